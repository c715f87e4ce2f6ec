//go:build !unix

package scan

import "os/exec"

// killProcessGroupOnCancel keeps exec's default on systems without process groups: the
// scanner process itself is killed on cancellation.
func killProcessGroupOnCancel(*exec.Cmd) {}
