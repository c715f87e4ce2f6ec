// Command k8sversion prints the Kubernetes version of the test cluster, for .ci/run and the
// Makefile: one source of truth with internal/testenv.
package main

import (
	"fmt"

	"github.com/ferry-ci/ferry/internal/testenv"
)

func main() { fmt.Println(testenv.K8sVersion) }
