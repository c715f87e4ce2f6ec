// Command delivery schedules deliveries.
package main

import (
	"fmt"

	"example.com/shipping/src/shipping/common"
)

func main() { fmt.Println("delivery", common.TrackingID("eu", 1)) }
