package bridge

import (
	"errors"
	"testing"
)

// A packet-out to a tunnel port is refused with the reason and counted twice: as the port's
// TX drop and as the datapath's tunnel_encap_not_implemented drop.
func TestTunnelPortTransmitDropsWithReason(t *testing.T) {
	d := &Datapath{}
	tp := &tunnelPort{d: d, name: "tun0", ofport: 10}
	for range 3 {
		if err := tp.Transmit(make([]byte, 60)); !errors.Is(err, errTunnelEncap) {
			t.Fatalf("Transmit error = %v, want %v", err, errTunnelEncap)
		}
	}
	if got := tp.Stats(); got.TxDropped != 3 || got.TxPackets != 0 {
		t.Errorf("Stats() = %+v, want TxDropped 3 and TxPackets 0", got)
	}
	if got := d.Drops()[DropTunnelEncap]; got != 3 {
		t.Errorf("Drops()[%s] = %d, want 3", DropTunnelEncap, got)
	}
	if got := errTunnelEncap.Error(); got != "tunnel encapsulation not implemented" {
		t.Errorf("reason = %q, want %q", got, "tunnel encapsulation not implemented")
	}
}
