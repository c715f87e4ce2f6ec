package main

import "testing"

func TestSteps(t *testing.T) {
	if len(steps) != 3 || steps[len(steps)-1] != "delivery" {
		t.Fatalf("steps = %v", steps)
	}
}
