//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package changes

import "os"

// mapFile reads the whole file where mmap is not available; correct, but it makes the go-git
// backend pay for the size of the packs.
func mapFile(path string) ([]byte, func() error, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	return data, func() error { return nil }, nil
}
