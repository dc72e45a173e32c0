package controlplane

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestProcessLifecycle(t *testing.T) {
	dir := t.TempDir()
	p, err := startProcess("", "sleeper", "sh", []string{"-c", "echo started; exec sleep 60"}, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.stop(t.Context(), time.Second) })

	t.Run("alive with its own start time", func(t *testing.T) {
		if !p.Alive() {
			t.Fatalf("pid %d: got not alive, want alive", p.PID)
		}
	})
	t.Run("another start time is another process", func(t *testing.T) {
		other := p
		other.StartTime++
		if other.Alive() {
			t.Fatalf("pid %d with start time %d: got alive, want not (pid reuse guard)", p.PID, other.StartTime)
		}
		if err := other.stop(t.Context(), time.Second); err != nil || !p.Alive() {
			t.Fatalf("stop with a foreign start time: got err %v alive %v, want nil and the process untouched", err, p.Alive())
		}
	})
	t.Run("log receives output", func(t *testing.T) {
		deadline := time.Now().Add(5 * time.Second)
		for !strings.Contains(p.logTail(100), "started") {
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(p.Log)
				t.Fatalf("log %s: got %q, want it to contain %q", p.Log, b, "started")
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	t.Run("stop ends it", func(t *testing.T) {
		if err := p.stop(t.Context(), 5*time.Second); err != nil {
			t.Fatal(err)
		}
		if p.Alive() {
			t.Fatalf("pid %d alive after stop", p.PID)
		}
		if p.RSS() != 0 {
			t.Fatalf("RSS of a stopped process: got %d, want 0", p.RSS())
		}
	})
}
