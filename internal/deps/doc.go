// Package deps has no code: its test keeps Ferry's layers pointing one way (cmd → stages →
// pipeline → triggers) and each heavy library (go-git, buildkit, Helm, client-go) linked only
// by the package whose job needs it. The rules are in deps_test.go; `go test ./internal/deps`
// (part of `make test`) fails, naming the import chain, when a change breaks one.
package deps
