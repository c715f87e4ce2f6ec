//go:build unix

package image

import (
	"os/exec"
	"syscall"
)

// setProcessGroup starts the command in its own process group and kills the whole group when
// the context is cancelled, so that a builder's helpers do not outlive it.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
