package config

import (
	"errors"
	"slices"
	"strings"
	"testing"

	goldenfile "github.com/ferry-ci/ferry/internal/golden"
	"gopkg.in/yaml.v3"
)

// TestConfigReferenceIsCurrent fails when docs/CONFIG.md is not what the config model writes:
// go test ./pipeline/config -run TestConfigReferenceIsCurrent -update (or make docs) rewrites it.
func TestConfigReferenceIsCurrent(t *testing.T) {
	md, err := ReferenceMarkdown()
	if err != nil {
		t.Fatal(err)
	}
	goldenfile.Check(t, "../../docs/CONFIG.md", md, *update)
}

// TestReferenceRefusesGaps checks that the reference is not written when a key has no
// description, when a description names a key the model lacks, or when keyDocs repeats a
// default the loader applies.
func TestReferenceRefusesGaps(t *testing.T) {
	cases := []struct {
		name   string
		change func(docs map[string]keyDoc)
		want   string
	}{
		{"undocumented key", func(d map[string]keyDoc) { delete(d, "Approval.excludeAuthors") },
			"environments[].approval.excludeAuthors (Approval.excludeAuthors) has no description"},
		{"undocumented entry", func(d map[string]keyDoc) { delete(d, "ApproverGroup") },
			"environments[].approval.groups.<group> (ApproverGroup) has no description"},
		{"description of no key", func(d map[string]keyDoc) { d["Service.bulid"] = keyDoc{doc: "x"} },
			"keyDocs describes Service.bulid, which the config model does not have"},
		{"default kept twice", func(d map[string]keyDoc) { d["Config.trunk"] = keyDoc{doc: "x", def: "`main`"} },
			"trunk: keyDocs gives the default \"`main`\" but the loader applies `main`"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			saved := keyDocs
			t.Cleanup(func() { keyDocs = saved })
			keyDocs = map[string]keyDoc{}
			for k, v := range saved {
				keyDocs[k] = v
			}
			tc.change(keyDocs)
			_, err := Reference()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// TestReferenceMatchesLoader checks the reference against what load.go accepts: for every
// mapping it lists, a config with an unknown key there makes the loader list the keys it
// expects, and those must be the keys the reference lists under it.
func TestReferenceMatchesLoader(t *testing.T) {
	keys, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	var top []string
	mappings := 0
	for _, k := range keys {
		if len(k.segs) == 1 {
			top = append(top, k.segs[0].name)
		}
		if k.Path == "stages" {
			t.Run(k.Path, func(t *testing.T) {
				if got := expectedKeys(t, []seg{{segField, "stages"}}); !slices.Equal(got, AllStages()) {
					t.Errorf("stages accepts %v, the reference documents the stage kinds %v", got, AllStages())
				}
			})
		}
		if !k.mapping {
			continue
		}
		mappings++
		t.Run(k.Path, func(t *testing.T) {
			got := expectedKeys(t, k.segs)
			if !sameSet(got, k.keys) {
				t.Errorf("the loader accepts %v at %s, the reference lists %v", got, k.Path, k.keys)
			}
		})
	}
	t.Run("top level", func(t *testing.T) {
		if got := expectedKeys(t, nil); !sameSet(got, top) {
			t.Errorf("the loader accepts %v, the reference lists %v", got, top)
		}
	})
	if mappings < 15 {
		t.Errorf("only %d mappings in the reference", mappings)
	}
}

// expectedKeys parses a config with the unknown key zzz in the mapping at segs and returns
// the keys the loader's error says it expected there.
func expectedKeys(t *testing.T, segs []seg) []string {
	t.Helper()
	var build func(segs []seg) any
	build = func(segs []seg) any {
		if len(segs) == 0 {
			return map[string]any{"zzz": 1}
		}
		switch s := segs[0]; s.kind {
		case segName:
			return map[string]any{StageBuild: build(segs[1:])} // a valid service, trigger, group and stage name
		case segIndex:
			return []any{build(segs[1:])}
		default:
			return map[string]any{s.name: build(segs[1:])}
		}
	}
	var path strings.Builder
	for _, s := range segs {
		switch s.kind {
		case segName:
			path.WriteString("." + StageBuild)
		case segIndex:
			path.WriteString("[0]")
		default:
			path.WriteString("." + s.name)
		}
	}
	field := strings.TrimPrefix(path.String(), ".")
	data, err := yaml.Marshal(build(segs))
	if err != nil {
		t.Fatal(err)
	}
	_, err = Parse(FileName, "", data)
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("no errors for\n%s", data)
	}
	for _, e := range errs {
		if e.Field != field || !strings.HasPrefix(e.Msg, `unknown key "zzz" (expected one of: `) {
			continue
		}
		list, _, _ := strings.Cut(strings.TrimPrefix(e.Msg, `unknown key "zzz" (expected one of: `), ")")
		return strings.Split(list, ", ")
	}
	t.Fatalf("no unknown-key error at %q for\n%s\ngot: %v", field, data, errs)
	return nil
}

func sameSet(a, b []string) bool {
	a, b = slices.Sorted(slices.Values(a)), slices.Sorted(slices.Values(b))
	return slices.Equal(a, b)
}
