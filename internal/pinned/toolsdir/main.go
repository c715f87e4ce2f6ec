// Command toolsdir prints pinned.ToolsDir for the environment it runs in: the Makefile's
// `make tools` installs there.
package main

import (
	"fmt"
	"os"

	"github.com/ferry-ci/ferry/internal/pinned"
)

func main() {
	dir := pinned.ToolsDir(os.Getenv)
	if dir == "" {
		fmt.Fprintln(os.Stderr, "toolsdir: no cache folder known: set FERRY_TOOLS_DIR or FERRY_CACHE_DIR")
		os.Exit(1)
	}
	fmt.Println(dir)
}
