// Package common is shared by the shipping services: a change here triggers both.
package common

import "fmt"

// TrackingID formats a shipment's tracking ID.
func TrackingID(region string, n int) string { return fmt.Sprintf("%s-%06d", region, n) }
