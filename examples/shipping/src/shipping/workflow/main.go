// Command workflow runs a delivery's steps in order: package, drone, delivery.
package main

import (
	"fmt"
	"strings"
)

// steps are the calls a delivery request goes through.
var steps = []string{"package", "dronescheduler", "delivery"}

func main() { fmt.Println("workflow", strings.Join(steps, " -> ")) }
