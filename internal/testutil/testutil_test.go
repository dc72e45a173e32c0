package testutil

import (
	"strings"
	"testing"
)

func TestUniqueName(t *testing.T) {
	a, b := UniqueName("sl"), UniqueName("sl")
	if a == b {
		t.Fatalf("two names collided: %s", a)
	}
	if !strings.HasPrefix(a, "sl") || len(a) != 8 {
		t.Fatalf("got %q, want sl + 6 hex digits", a)
	}
}
