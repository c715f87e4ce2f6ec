//go:build unfixed

package main

// Built with -tags unfixed, the binary also links github.com/google/go-cmp, for which the
// test's fixture DB holds an advisory with no fixed version.

import "github.com/google/go-cmp/cmp"

func extra() string { return cmp.Diff(1, 2) }
