package common

import "testing"

func TestTrackingID(t *testing.T) {
	if got := TrackingID("eu", 42); got != "eu-000042" {
		t.Fatalf("TrackingID = %q", got)
	}
}
