// Command package tracks packages: their size and weight, by tracking number.
package main

import "fmt"

// label is a package's label: its number and weight class.
func label(n int, kg float64) string {
	class := "small"
	if kg > 5 {
		class = "large"
	}
	return fmt.Sprintf("pkg-%06d/%s", n, class)
}

func main() { fmt.Println("package", label(7, 2.5)) }
