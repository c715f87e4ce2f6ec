// Command package tracks packages.
package main

import (
	"fmt"

	"example.com/shipping/src/shipping/common"
)

func main() { fmt.Println("package", common.TrackingID("us", 7)) }
