package bridge

import (
	"strings"
	"testing"
)

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Options)
	}{
		{"zero_batch", func(o *Options) { o.Batch = 0 }},
		{"negative_busy_polls", func(o *Options) { o.BusyPolls = -1 }},
		{"zero_idle_wait", func(o *Options) { o.IdleWait = 0 }},
		{"zero_sockets", func(o *Options) { o.MaxSockets = 0 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			tc.edit(&o)
			d, err := New(o)
			if err == nil {
				d.Close()
				t.Fatal("New accepted the options, want an error")
			}
			if !strings.Contains(err.Error(), "must be positive") {
				t.Errorf("error = %q, want it to say what must be positive", err)
			}
		})
	}
}

func TestBridgeMACIsLocalUnicast(t *testing.T) {
	for _, name := range []string{"br0", "br-int", "a"} {
		t.Run(name, func(t *testing.T) {
			m := bridgeMAC(name)
			if m[0]&0x02 == 0 || m[0]&0x01 != 0 {
				t.Errorf("bridgeMAC(%q) = %v, want a locally administered unicast address", name, m)
			}
			if got := bridgeMAC(name); got.String() != m.String() {
				t.Errorf("bridgeMAC(%q) changed between calls: %v then %v", name, m, got)
			}
		})
	}
}
