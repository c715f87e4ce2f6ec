module example.com/vulnapp

go 1.26

require (
	github.com/google/go-cmp v0.7.0
	golang.org/x/text v0.3.6
)
