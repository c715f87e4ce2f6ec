//go:build !unfixed

package main

func extra() string { return "" }
