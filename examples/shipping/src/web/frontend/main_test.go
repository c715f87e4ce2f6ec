package main

import "testing"

func TestMain_runs(t *testing.T) { main() }
