// Command dronescheduler assigns drones to deliveries. It builds with delivery's shared
// library (src/shipping/common), as in the drone-delivery application.
//
// dronescheduler -write-config FILE writes its default configuration and exits: the image's
// Dockerfile runs that (a RUN step), so the image is built by buildah, not the native builder.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-cmp/cmp"

	"example.com/shipping/src/shipping/common"
)

// Config is the scheduler's configuration.
type Config struct {
	Drones  int      `json:"drones"`
	Regions []string `json:"regions"`
}

// defaults is the configuration the image ships with.
var defaults = Config{Drones: 3, Regions: []string{"eu"}}

// assign names the drone of a delivery: deliveries are spread over the drones in turn.
func assign(c Config, delivery int) string {
	return fmt.Sprintf("drone-%d for %s", delivery%c.Drones+1, common.TrackingID(c.Regions[0], delivery))
}

func writeConfig(file string) error {
	data, err := json.MarshalIndent(defaults, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the default config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return fmt.Errorf("writing the default config: %w", err)
	}
	if err := os.WriteFile(file, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the default config: %w", err)
	}
	return nil
}

// load reads the configuration file, or returns the defaults when there is none.
func load(file string) (Config, error) {
	data, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		return defaults, nil
	}
	if err != nil {
		return Config{}, fmt.Errorf("reading the config: %w", err)
	}
	var c Config
	if err := json.Unmarshal(data, &c); err != nil {
		return Config{}, fmt.Errorf("reading the config %s: %w", file, err)
	}
	if c.Drones < 1 || len(c.Regions) == 0 {
		return Config{}, fmt.Errorf("config %s: needs at least one drone and one region", file)
	}
	return c, nil
}

func main() {
	out := flag.String("write-config", "", "write the default configuration to this file and exit")
	flag.Parse()
	if *out != "" {
		if err := writeConfig(*out); err != nil {
			fmt.Fprintln(os.Stderr, "dronescheduler:", err)
			os.Exit(1)
		}
		return
	}
	c, err := load("/etc/dronescheduler/config.json")
	if err != nil {
		fmt.Fprintln(os.Stderr, "dronescheduler:", err)
		os.Exit(1)
	}
	if diff := cmp.Diff(defaults, c); diff != "" {
		fmt.Printf("dronescheduler: config differs from the defaults (-default +config):\n%s", diff)
	}
	fmt.Println("dronescheduler", assign(c, 1))
}
