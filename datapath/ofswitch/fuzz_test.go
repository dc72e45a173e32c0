package ofswitch

import (
	"encoding/binary"
	"io"
	"net"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/openflow"
)

// fuzzSeeds are well-formed requests of every kind the switch handles.
func fuzzSeeds(t testing.TB) [][]byte {
	fl, err := flow.ParseFlow("table=1,priority=5,ip,nw_dst=10.0.0.1,actions=ct(commit,table=2),output:1")
	if err != nil {
		t.Fatal(err)
	}
	fm, err := openflow.FlowModFor(fl, openflow.FlowAdd)
	if err != nil {
		t.Fatal(err)
	}
	g, err := flow.ParseGroup("group_id=1,type=select,bucket=output:1,bucket=output:2")
	if err != nil {
		t.Fatal(err)
	}
	gm, err := openflow.GroupModFor(g, openflow.GroupAdd)
	if err != nil {
		t.Fatal(err)
	}
	po := &openflow.PacketOut{BufferID: openflow.NoBuffer, Actions: []openflow.Action{&openflow.Output{Port: openflow.PortTable}}, Data: make([]byte, 60)}
	msgs := []openflow.Message{
		fm, gm, po,
		&openflow.MeterMod{Command: openflow.MeterAdd, MeterID: 1, Flags: openflow.MeterFlagPktps, Bands: []openflow.Band{{Type: openflow.BandDrop, Rate: 10}}},
		&openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleOpenRequest},
		&openflow.BundleAdd{BundleID: 1, Message: fm},
		&openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleCommitRequest},
		&openflow.FlowDescRequest{FlowFilter: openflow.NewFlowFilter()},
		&openflow.RoleRequest{Role: openflow.Role{Role: openflow.RoleMaster, GenerationID: 3}},
		&openflow.PortStatsRequest{PortNo: openflow.PortAny}, &openflow.SetConfig{},
		&openflow.SetPacketInFormat{Format: openflow.PacketInFormatNXT2},
	}
	var out [][]byte
	for _, m := range msgs {
		b, err := openflow.Marshal(7, m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// FuzzHandle feeds arbitrary messages to a connection's handler: whatever the bytes, the switch
// must not panic, and the connection must still answer an echo afterwards.
func FuzzHandle(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	s := New(Options{Bridge: "fz"})
	s.AddPort(PortDesc{OFPort: 1, Name: "p1"}, nil)
	s.AddPort(PortDesc{OFPort: 2, Name: "p2"}, nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) < openflow.HeaderLen || len(raw) > openflow.MaxMessageLen {
			return
		}
		raw = append([]byte(nil), raw...)
		binary.BigEndian.PutUint16(raw[2:], uint16(len(raw)))
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		got := make(chan []byte, 1)
		go func() {
			r := openflow.NewReader(b)
			for {
				m, err := r.ReadRaw()
				if err != nil {
					close(got)
					return
				}
				if h, _ := openflow.ParseHeader(m); h.Type == openflow.TypeEchoReply && h.XID == 0xfeed {
					got <- m
					io.Copy(io.Discard, b)
					return
				}
			}
		}()
		c := newConn(s, a)
		go c.writer()
		defer c.close()
		c.handleRaw(raw)
		echo, _ := openflow.Marshal(0xfeed, &openflow.EchoRequest{})
		c.handleRaw(echo)
		if _, ok := <-got; !ok {
			t.Fatalf("no echo reply after %x", raw)
		}
	})
}
