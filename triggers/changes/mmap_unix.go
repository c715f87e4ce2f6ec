//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package changes

import (
	"fmt"
	"os"
	"syscall"
)

// mapFile maps a file read-only. Git writes pack files once and renames them into place, so a
// mapping never sees them change.
func mapFile(path string) ([]byte, func() error, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	size := fi.Size()
	if size == 0 || int64(int(size)) != size {
		return nil, nil, fmt.Errorf("%s: cannot map %d bytes", path, size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
