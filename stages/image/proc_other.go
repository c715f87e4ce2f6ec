//go:build !unix

package image

import "os/exec"

// setProcessGroup leaves the command as it is: process groups are a Unix notion.
func setProcessGroup(*exec.Cmd) {}
