// Command vulnapp is the image the scan tests build: it links golang.org/x/text, whose
// version the test chooses (v0.3.6 is affected by CVE-2021-38561, v0.3.7 is not).
package main

import (
	"fmt"
	"os"

	"golang.org/x/text/language"
)

func main() {
	tags, _, err := language.ParseAcceptLanguage(os.Getenv("ACCEPT_LANGUAGE"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(tags, extra())
}
