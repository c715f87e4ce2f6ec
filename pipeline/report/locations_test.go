package report

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFindLocations(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{
		"services/api/main.go",
		"services/api/internal/store/store.go",
		"services/api/internal/store/store_test.go",
		"services/api/dup/a_test.go",
		"services/api/dup2/a_test.go",
		"services/api/vendor/x/store_test.go", // dependencies do not make names ambiguous
		"services/api/src/main.c",
		"services/shared/lib.go",
		"services/web/src/app.js",
	} {
		writeFile(t, filepath.Join(root, f), "x\n")
	}
	loc := func(file string, line, col int, msg, sev string) Location {
		return Location{File: file, Line: line, Col: col, Message: msg, Severity: sev}
	}
	tests := []struct {
		name       string
		log        string
		serviceDir string
		want       []Location
	}{
		{
			name: "go build",
			log:  "# example.com/api/internal/store\ninternal/store/store.go:12:2: undefined: foo\n",
			want: []Location{loc("services/api/internal/store/store.go", 12, 2, "undefined: foo", "error")},
		},
		{
			name: "go build with ./",
			log:  "# example.com/api\n./main.go:8:13: syntax error: unexpected newline in composite literal; possibly missing comma or }\n",
			want: []Location{loc("services/api/main.go", 8, 13, "syntax error: unexpected newline in composite literal; possibly missing comma or }", "error")},
		},
		{
			name: "go vet",
			log:  "# example.com/api\n# [example.com/api]\n./main.go:20:2: fmt.Printf format %d has arg s of wrong type string\n",
			want: []Location{loc("services/api/main.go", 20, 2, "fmt.Printf format %d has arg s of wrong type string", "error")},
		},
		{
			name: "go test failure: base name, found in the service tree",
			log: "=== RUN   TestGet\n    store_test.go:42: Get(1) = nil, want item\n--- FAIL: TestGet (0.00s)\n" +
				"FAIL\nFAIL\texample.com/api/internal/store\t0.004s\n",
			want: []Location{loc("services/api/internal/store/store_test.go", 42, 0, "Get(1) = nil, want item", "error")},
		},
		{
			name: "go test message on the next line",
			log:  "    store_test.go:50: \n        mismatch (-want +got):\n",
			want: []Location{loc("services/api/internal/store/store_test.go", 50, 0, "mismatch (-want +got):", "error")},
		},
		{
			name: "go test compile error",
			log:  "# example.com/api/internal/store [example.com/api/internal/store.test]\ninternal/store/store_test.go:7:2: undefined: missing\nFAIL\texample.com/api/internal/store [build failed]\n",
			want: []Location{loc("services/api/internal/store/store_test.go", 7, 2, "undefined: missing", "error")},
		},
		{
			name: "ambiguous base name",
			log:  "    a_test.go:3: boom\n",
		},
		{
			name: "gcc",
			log: "src/main.c: In function 'main':\n" +
				"src/main.c:10:5: error: 'x' undeclared (first use in this function)\n" +
				"src/main.c:10:5: note: each undeclared identifier is reported only once for each function it appears in\n" +
				"src/main.c:3:9: warning: unused variable 'y' [-Wunused-variable]\n" +
				"make: *** [Makefile:4: main] Error 1\n",
			want: []Location{
				loc("services/api/src/main.c", 10, 5, "error: 'x' undeclared (first use in this function)", "error"),
				loc("services/api/src/main.c", 10, 5, "note: each undeclared identifier is reported only once for each function it appears in", "notice"),
				loc("services/api/src/main.c", 3, 9, "warning: unused variable 'y' [-Wunused-variable]", "warning"),
			},
		},
		{
			name:       "eslint unix, absolute paths",
			serviceDir: "services/web",
			log: filepath.Join(root, "services/web/src/app.js") + ":1:10: Missing semicolon. [Error/semi]\n" +
				filepath.Join(root, "services/web/src/app.js") + ":3:7: 'x' is assigned a value but never used. [Warning/no-unused-vars]\n\n2 problems\n",
			want: []Location{
				loc("services/web/src/app.js", 1, 10, "Missing semicolon. [Error/semi]", "error"),
				loc("services/web/src/app.js", 3, 7, "'x' is assigned a value but never used. [Warning/no-unused-vars]", "warning"),
			},
		},
		{
			name: "relative path out of the service, inside the repository",
			log:  "../shared/lib.go:3:1: missing return\n",
			want: []Location{loc("services/shared/lib.go", 3, 1, "missing return", "error")},
		},
		{
			name: "CRLF and a build prefix",
			log:  "#12 0.532 main.go:12:2: undefined: x\r\n",
			want: []Location{loc("services/api/main.go", 12, 2, "undefined: x", "error")},
		},
		{
			name: "duplicates",
			log:  "./main.go:1:1: bad\n./main.go:1:1: bad\nmain.go:1:1: bad\n",
			want: []Location{loc("services/api/main.go", 1, 1, "bad", "error")},
		},
		{
			name: "noise",
			log: strings.Join([]string{
				"http://x:80/ is up",
				"https://example.com:443/path: ok",
				"GET http://localhost:8080/healthz: 200",
				"12:00:01 started",
				"2025/01/02 12:00:01 listening on :8080",
				"time=2025-01-02T12:00:01Z level=INFO msg=ok",
				"127.0.0.1:8080: connection refused",
				"example.com:443: connection refused",
				"\t/home/runner/go/src/runtime/panic.go:770 +0x132",
				"\t" + filepath.Join(root, "services/api/main.go") + ":12 +0x1d",
				"--- FAIL: TestX (0.00s)",
				"FAIL\texample.com/api\t0.01s",
				"main.go is fine",
				"image sha256:abcdef0123:1: no",
				"main.go:0:0: no line",
				"missing.go:1:1: no such file",
				"/usr/include/stdio.h:12:1: error: outside the repository",
				"../../../etc/passwd:1:1: escapes the repository",
				"xmain.go:1:1: not the same name",
			}, "\n"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.serviceDir
			if dir == "" {
				dir = "services/api"
			}
			got := FindLocations([]byte(tt.log), dir, root)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("FindLocations (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no repository root", func(t *testing.T) {
		if got := FindLocations([]byte("./main.go:1:1: bad\n"), "services/api", ""); got != nil {
			t.Errorf("got %v, want none", got)
		}
	})
}
