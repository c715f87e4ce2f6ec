package releases

import (
	"regexp"
	"strings"
)

// Conventional is what a commit message says in the Conventional Commits 1.0.0 format:
// type(scope)!: description, and BREAKING CHANGE: footers.
type Conventional struct {
	// Type is the lower-cased type (feat, fix, …); "" when the message is not conventional.
	Type     string `json:"type,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Breaking bool   `json:"breaking,omitempty"`
}

// header is type, an optional (scope), an optional !, a colon and a space, then text.
var header = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*)(?:\(([^()\r\n]*)\))?(!)?: \S`)

// ParseConventional reads a commit message. The type is case-insensitive; a breaking change
// is a ! before the colon or a BREAKING CHANGE: (or BREAKING-CHANGE:) footer, in capitals as
// the specification requires.
func ParseConventional(message string) Conventional {
	first, body, _ := strings.Cut(strings.TrimLeft(message, "\n"), "\n")
	m := header.FindStringSubmatch(strings.TrimRight(first, "\r "))
	if m == nil {
		return Conventional{}
	}
	c := Conventional{Type: strings.ToLower(m[1]), Scope: m[2], Breaking: m[3] == "!"}
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(line, "BREAKING CHANGE: ") || strings.HasPrefix(line, "BREAKING-CHANGE: ") {
			c.Breaking = true
		}
	}
	return c
}

// Bump is what the commit asks for: major for a breaking change, minor for feat, patch for
// fix and perf; releasable is false for every other type and for unconventional messages.
func (c Conventional) Bump() (b Bump, releasable bool) {
	switch {
	case c.Breaking:
		return Major, true
	case c.Type == "feat":
		return Minor, true
	case c.Type == "fix" || c.Type == "perf":
		return Patch, true
	}
	return Patch, false
}

// AutoBump is the largest bump the messages ask for. With no feat, fix, perf or breaking
// change among them it is Patch and releasable is false: the caller decides whether other
// changes (docs, chore, refactor, …) make a release.
func AutoBump(messages []string) (b Bump, releasable bool) {
	b = Patch
	for _, m := range messages {
		mb, ok := ParseConventional(m).Bump()
		if !ok {
			continue
		}
		releasable = true
		if mb.rank() > b.rank() {
			b = mb
		}
	}
	return b, releasable
}
