package main

import "testing"

func TestLabel(t *testing.T) {
	for _, tc := range []struct {
		n    int
		kg   float64
		want string
	}{
		{7, 2.5, "pkg-000007/small"},
		{42, 12, "pkg-000042/large"},
	} {
		if got := label(tc.n, tc.kg); got != tc.want {
			t.Errorf("label(%d, %v) = %q, want %q", tc.n, tc.kg, got, tc.want)
		}
	}
}
