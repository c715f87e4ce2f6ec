package cigen

import (
	"fmt"
	"strings"
	"testing"
)

func TestDiff(t *testing.T) {
	lines := func(n int, change map[int]string) string {
		var b strings.Builder
		for i := 1; i <= n; i++ {
			if s, ok := change[i]; ok {
				b.WriteString(s)
				continue
			}
			fmt.Fprintf(&b, "line %03d\n", i)
		}
		return b.String()
	}
	cases := []struct {
		name       string
		have, want string
		diff       string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"one line changed", lines(10, map[int]string{5: "edited\n"}), lines(10, nil), `--- f.yml (as it is)
+++ f.yml (generated from the config)
@@ -2,7 +2,7 @@
 line 002
 line 003
 line 004
-edited
+line 005
 line 006
 line 007
 line 008
`},
		{"two far-apart changes are two hunks", lines(20, map[int]string{2: "", 18: "x\ny\n"}), lines(20, nil), `--- f.yml (as it is)
+++ f.yml (generated from the config)
@@ -1,4 +1,5 @@
 line 001
+line 002
 line 003
 line 004
 line 005
@@ -14,7 +15,6 @@
 line 015
 line 016
 line 017
-x
-y
+line 018
 line 019
 line 020
`},
		{"a missing file", "", "a\n", "--- f.yml (as it is)\n+++ f.yml (generated from the config)\n@@ -0,0 +1,1 @@\n+a\n"},
	}
	if _, removed, added := Diff("f.yml", []byte(cases[2].have), []byte(cases[2].want)); removed != 2 || added != 2 {
		t.Errorf("two far-apart changes: %d removed, %d added; want 2, 2", removed, added)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got, _, _ := Diff("f.yml", []byte(tc.have), []byte(tc.want)); got != tc.diff {
				t.Errorf("Diff =\n%s\nwant\n%s", got, tc.diff)
			}
		})
	}
}
