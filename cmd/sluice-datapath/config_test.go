package main

import (
	"errors"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/bridge"
)

func TestParseArgs(t *testing.T) {
	def := bridge.DefaultOptions()
	for _, tc := range []struct {
		name    string
		file    string // written to a temp file and passed as --config when not empty
		args    []string
		want    func(s settings) string // returns "" when s is right, else what is wrong
		wantErr string                  // substring of the error; "" means no error
	}{
		{name: "defaults without file", want: func(s settings) string {
			if s.opts.OVSDB != def.OVSDB || s.opts.RunDir != def.RunDir || s.opts.PinDir != "" || s.logLevel != slog.LevelInfo {
				return "not the defaults"
			}
			return ""
		}},
		{name: "file sets every key", file: "ovsdb: tcp:127.0.0.1:6640\nrundir: /tmp/r\nbpffs: /sys/fs/bpf/s\nstatus-interval: 2s\nlog-level: debug\nmetrics-addr: unix:/tmp/m.sock\n",
			want: func(s settings) string {
				if s.opts.OVSDB != "tcp:127.0.0.1:6640" || s.opts.RunDir != "/tmp/r" || s.opts.PinDir != "/sys/fs/bpf/s" ||
					s.opts.StatusInterval != 2*time.Second || s.logLevel != slog.LevelDebug || s.opts.MetricsAddr != "unix:/tmp/m.sock" {
					return "file values not applied"
				}
				return ""
			}},
		{name: "JSON file is YAML too", file: `{"rundir": "/tmp/j"}`, want: func(s settings) string {
			if s.opts.RunDir != "/tmp/j" {
				return "rundir = " + s.opts.RunDir
			}
			return ""
		}},
		{name: "command line overrides file", file: "rundir: /tmp/file\nlog-level: debug\n", args: []string{"--rundir", "/tmp/flag"},
			want: func(s settings) string {
				if s.opts.RunDir != "/tmp/flag" {
					return "rundir = " + s.opts.RunDir + ", want the flag's /tmp/flag"
				}
				if s.logLevel != slog.LevelDebug {
					return "log-level from the file not applied"
				}
				return ""
			}},
		{name: "empty value clears a flag", file: "metrics-addr: \"\"\n", want: func(s settings) string {
			if s.opts.MetricsAddr != "" {
				return "metrics-addr = " + s.opts.MetricsAddr + ", want empty"
			}
			return ""
		}},
		{name: "empty file changes nothing", file: "\n", want: func(s settings) string {
			if s.opts.RunDir != def.RunDir {
				return "rundir changed"
			}
			return ""
		}},
		{name: "unknown key named", file: "rundir: /tmp/r\nmetrics-adress: x\n", wantErr: `unknown key "metrics-adress"`},
		{name: "config key refused", file: "config: /etc/other.yaml\n", wantErr: `unknown key "config"`},
		{name: "nested value refused", file: "rundir:\n  a: b\n", wantErr: `key "rundir": want a string`},
		{name: "bad value named", file: "status-interval: soon\n", wantErr: `key "status-interval"`},
		{name: "bad log level named", file: "log-level: loud\n", wantErr: `key "log-level"`},
		{name: "list at top level", file: "- a\n", wantErr: "top level must be a mapping"},
		{name: "bad YAML", file: "rundir: [\n", wantErr: "invalid configuration"},
		{name: "missing file", args: []string{"--config", "/nonexistent/datapath.yaml"}, wantErr: "read config"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := tc.args
			if tc.file != "" {
				p := filepath.Join(t.TempDir(), "datapath.yaml")
				if err := os.WriteFile(p, []byte(tc.file), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--config", p}, args...)
			}
			s, err := parseArgs(args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseArgs(%q) error = %v, want one containing %q", args, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseArgs(%q) error = %v, want nil", args, err)
			}
			if got := tc.want(s); got != "" {
				t.Errorf("parseArgs(%q): %s (got %+v)", args, got, s)
			}
		})
	}
}

// The example in docs/sluice-datapath.md must be a configuration the program accepts.
func TestDocumentedConfigExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/sluice-datapath.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```yaml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/sluice-datapath.md has no ```yaml example")
	}
	p := filepath.Join(t.TempDir(), "datapath.yaml")
	if err := os.WriteFile(p, []byte(example), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := parseArgs([]string{"--config", p}, io.Discard)
	if err != nil {
		t.Fatalf("documented example refused: %v\n%s", err, example)
	}
	if s.opts.PinDir != "/sys/fs/bpf/sluice" || s.opts.MetricsAddr != "127.0.0.1:9192" {
		t.Errorf("documented example gave bpffs %q, metrics-addr %q; want /sys/fs/bpf/sluice, 127.0.0.1:9192", s.opts.PinDir, s.opts.MetricsAddr)
	}
}

// FuzzMergeConfig: any file content either applies or fails with errConfig, and never panics.
func FuzzMergeConfig(f *testing.F) {
	for _, seed := range []string{"", "rundir: /tmp/r\n", `{"ovsdb": "tcp:127.0.0.1:6640"}`, "log-level: 4\n",
		"status-interval: 1s\nbpffs: null\n", "- a\n", "rundir: [\n", "x: {y: z}\n"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fs := flag.NewFlagSet("fuzz", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fs.String("config", "", "")
		fs.String("rundir", "", "")
		fs.String("ovsdb", "", "")
		fs.String("bpffs", "", "")
		fs.Duration("status-interval", 0, "")
		var lv slog.Level
		fs.TextVar(&lv, "log-level", slog.LevelInfo, "")
		if err := mergeConfig(fs, data); err != nil && !errors.Is(err, errConfig) {
			t.Errorf("mergeConfig(%q) error %v is not an errConfig", data, err)
		}
	})
}
