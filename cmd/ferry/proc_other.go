//go:build !linux

package main

// killChildren is Linux-only; elsewhere the process ends and its children get the terminal's
// signal themselves.
func killChildren() {}
