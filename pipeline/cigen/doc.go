// Package cigen writes the CI files that run Ferry, made from ferry.yaml: a GitHub Actions
// workflow (github*.go) and an Azure Pipelines file (azure*.go). Both follow the hand-written
// examples in examples/ci: a plan job whose outputs drive a matrix job per affected service (a
// shard of services beyond the vendors' 256-job limit), the empty-matrix guard, depth-1
// checkouts with persisted credentials, and for release pipelines one job per environment,
// bound to the CI system's environment of that name so that its approvals, checks and
// credentials apply, each continuing the same Ferry run (ferry resume --stop-before-env).
//
// The files are built as yaml.v3 nodes, so values are always quoted as YAML needs, and
// encoded with fixed settings: the same config always gives the same bytes, which is what
// ferry ci generate --check compares.
package cigen
