package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestAssign(t *testing.T) {
	for _, tc := range []struct {
		delivery int
		want     string
	}{
		{1, "drone-2 for eu-000001"},
		{3, "drone-1 for eu-000003"},
	} {
		if got := assign(defaults, tc.delivery); got != tc.want {
			t.Errorf("assign(%d) = %q, want %q", tc.delivery, got, tc.want)
		}
	}
}

func TestWriteConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "etc", "dronescheduler.json")
	if err := writeConfig(file); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var got Config
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if loaded, err := load(file); err != nil || !cmp.Equal(loaded, got) {
		t.Errorf("load = %+v, %v", loaded, err)
	}
	if diff := cmp.Diff(defaults, got); diff != "" {
		t.Errorf("written config (-want +got):\n%s", diff)
	}
}
