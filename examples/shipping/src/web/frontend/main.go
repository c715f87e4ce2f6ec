// Command frontend serves the web UI.
package main

import "fmt"

func main() { fmt.Println("frontend") }
