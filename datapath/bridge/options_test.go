package bridge

import "testing"

func TestDropReasonString(t *testing.T) {
	for _, tc := range []struct {
		r    DropReason
		want string
	}{
		{DropNoPort, "no_port"},
		{DropNoMemory, "no_memory"},
		{DropTooLong, "too_long"},
		{DropTunnelEncap, "tunnel_encap_not_implemented"},
		{NumDropReasons, "unknown"},
		{-1, "unknown"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			if got := tc.r.String(); got != tc.want {
				t.Errorf("DropReason(%d).String() = %q, want %q", int(tc.r), got, tc.want)
			}
		})
	}
}

// The default UMEM must keep every socket's fill and TX rings full with chunks to spare, for
// at least 8 attached netdevs.
func TestDefaultOptionsUMEMHoldsEightPorts(t *testing.T) {
	o := DefaultOptions()
	perPort := o.Socket.FillSize + o.Socket.TXSize
	if got, want := o.UMEM.NumChunks, 8*perPort; got <= want {
		t.Errorf("UMEM chunks = %d, want more than %d (8 ports × fill+TX rings)", got, want)
	}
	if o.MaxSockets < 8 {
		t.Errorf("MaxSockets = %d, want at least 8", o.MaxSockets)
	}
}
