package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"

	"sigs.k8s.io/yaml"
)

// errConfig marks a configuration file that cannot be used; main exits with status 2 for it.
var errConfig = errors.New("invalid configuration")

// applyConfig reads the YAML (or JSON) configuration file at path and sets every flag of fs
// it names that the command line did not set: the keys are the flag names without dashes,
// the values scalars. An unknown key, a nested value or a value the flag rejects is an error
// naming the key. The "config" key itself is refused (files do not include files).
func applyConfig(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := mergeConfig(fs, data); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

// mergeConfig is applyConfig on the file's contents.
func mergeConfig(fs *flag.FlagSet, data []byte) error {
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return fmt.Errorf("%w: %w", errConfig, err)
	}
	var kv map[string]any
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	if err := dec.Decode(&kv); err != nil {
		return fmt.Errorf("%w: top level must be a mapping of flag names to values: %w", errConfig, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report the same error for the same file every time
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return fmt.Errorf("%w: unknown key %q", errConfig, k)
		}
		var s string
		switch v := kv[k].(type) {
		case string:
			s = v
		case json.Number:
			s = v.String()
		case bool:
			s = strconv.FormatBool(v)
		case nil:
			s = ""
		default:
			return fmt.Errorf("%w: key %q: want a string, number or boolean, got %T", errConfig, k, v)
		}
		if set[k] {
			continue // the command line wins
		}
		if err := fs.Set(k, s); err != nil {
			return fmt.Errorf("%w: key %q: %w", errConfig, k, err)
		}
	}
	return nil
}
