package yamlnode

import (
	"errors"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

func parse(t *testing.T, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return Resolve(doc.Content[0])
}

func TestSyntaxError(t *testing.T) {
	var doc yaml.Node
	err := SyntaxError("f.yml", yaml.Unmarshal([]byte("a: [b\nc: d\n"), &doc))
	var d *Diagnostic
	if !errors.As(err, &d) || d.Line == 0 || d.Column != 1 || !strings.HasPrefix(d.Message, "invalid YAML: ") {
		t.Fatalf("got %#v", err)
	}
	if want := "f.yml:"; !strings.HasPrefix(err.Error(), want) {
		t.Errorf("%q does not start with %q", err, want)
	}

	plain := errors.New("yaml: unknown anchor 'x' referenced")
	err = SyntaxError("f.yml", plain)
	if !errors.Is(err, plain) || err.Error() != "f.yml: invalid YAML: yaml: unknown anchor 'x' referenced" {
		t.Errorf("got %v", err)
	}
}

func TestKindName(t *testing.T) {
	n := parse(t, "m: {a: 1}\ns: [1]\nq: x\nn: ~\nanchor: &anchor 1\nal: *anchor\n")
	want := []string{"a mapping", "a sequence", `"x"`, "nothing", `"1"`, "an alias"}
	for i := 1; i < len(n.Content); i += 2 {
		if got, w := KindName(n.Content[i]), want[i/2]; got != w {
			t.Errorf("KindName(%s) = %s, want %s", n.Content[i-1].Value, got, w)
		}
	}
	if got := Resolve(n.Content[11]); got.Value != "1" || got.Kind != yaml.ScalarNode {
		t.Errorf("Resolve(alias) = %#v", got)
	}
}

func TestPairsAndList(t *testing.T) {
	r := &Reader{File: "f.yml"}
	n := parse(t, "a: x\nb: [x, ~, [y]]\na: z\nc: {}\nd: ~\n")
	got := map[string][]string{}
	for k, v := range r.Pairs(n, "top") {
		items, ok := r.List("top."+k.Value, v)
		var vals []string
		for _, it := range items {
			vals = append(vals, it.Field+"="+it.Value)
		}
		if !ok {
			vals = append(vals, "!")
		}
		got[k.Value] = vals
	}
	want := map[string]string{
		"a": "top.a=x",
		"b": "top.b[0]=x top.b[1]= !",
		"c": "!",
		"d": "!",
	}
	for k, w := range want {
		if g := strings.Join(got[k], " "); g != w {
			t.Errorf("%s: got %q, want %q", k, g, w)
		}
	}
	wantErrs := []string{
		"f.yml:2:11: top.b[2]: expected a string, got a sequence",
		`f.yml:3:1: top: key "a" is repeated; first defined at line 1`,
		"f.yml:4:4: top.c: expected a list, got a mapping",
		"f.yml:5:4: top.d: expected a list, got nothing",
	}
	if g, w := r.Err().Error(), strings.Join(wantErrs, "\n"); g != w {
		t.Errorf("errors:\n%s\nwant:\n%s", g, w)
	}
}

func TestReaderNoErrors(t *testing.T) {
	r := &Reader{File: "f.yml"}
	r.Warnf(parse(t, "x"), "careful: %d", 1)
	if r.Err() != nil {
		t.Errorf("Err() = %v, want nil", r.Err())
	}
	if len(r.Warnings) != 1 || r.Warnings[0].String() != "f.yml:1:1: careful: 1" {
		t.Errorf("warnings = %v", r.Warnings)
	}
}

func TestQuoteList(t *testing.T) {
	if got := QuoteList([]string{"a", `b"`}); got != `"a", "b\""` {
		t.Errorf("got %s", got)
	}
}

func TestParse(t *testing.T) {
	for _, src := range []string{"", "# only a comment\n", "~\n", "null\n"} {
		if n, err := Parse("f.yml", []byte(src)); n != nil || err != nil {
			t.Errorf("Parse(%q) = %v, %v; want nil, nil", src, n, err)
		}
	}
	n, err := Parse("f.yml", []byte("a: &x [1]\nb: *x\n"))
	if err != nil || n.Kind != yaml.MappingNode {
		t.Fatalf("Parse = %v, %v", n, err)
	}
	if _, err := Parse("f.yml", []byte("a: [1\n")); err == nil || !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("Parse(bad) error = %v", err)
	}
}
