package ofswitch_test

import (
	"errors"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/openflow"
)

func TestHandshakeRefusesOtherVersions(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	for _, tc := range []struct {
		name    string
		version uint8
		bitmap  []uint32
	}{
		{"of13 bitmap", 0x04, []uint32{1 << 4}},
		{"of10 no bitmap", 0x01, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nc, err := net.Dial("unix", sw.Path())
			if err != nil {
				t.Fatal(err)
			}
			defer nc.Close()
			b, err := openflow.Marshal(1, &openflow.Hello{Bitmaps: tc.bitmap})
			if err != nil {
				t.Fatal(err)
			}
			b[0] = tc.version
			if _, err := nc.Write(b); err != nil {
				t.Fatal(err)
			}
			r := openflow.NewReader(nc)
			nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, m, _, err := r.Read()
			if _, ok := m.(*openflow.Hello); !ok || err != nil {
				t.Fatalf("first message: got %#v, %v; want HELLO", m, err)
			}
			_, m, _, err = r.Read()
			e, ok := m.(*openflow.Error)
			if err != nil || !ok || !errors.Is(*e, openflow.ErrHelloIncompatible) {
				t.Fatalf("got %#v, %v; want OFPHFC_INCOMPATIBLE", m, err)
			}
			if _, _, _, err := r.Read(); err == nil {
				t.Fatalf("connection still open after HELLO_FAILED")
			}
		})
	}
}

func TestHandshakeOffersOnlyOF15(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	nc, err := net.Dial("unix", sw.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, m, _, err := openflow.NewReader(nc).Read()
	if err != nil {
		t.Fatal(err)
	}
	hello, ok := m.(*openflow.Hello)
	if !ok || h.Version != openflow.Version || !slices.Equal(hello.Bitmaps, []uint32{1 << 6}) {
		t.Fatalf("got %v %#v, want a version-6 HELLO with bitmap 0x40", h, m)
	}
}

func TestBasicRequests(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{Bridge: "brx", DatapathID: 0xabc})
	c := dial(t, sw)
	rs := c.roundTrip(&openflow.EchoRequest{Data: []byte("ping")}, &openflow.FeaturesRequest{},
		&openflow.SetConfig{SwitchConfig: openflow.SwitchConfig{MissSendLen: 200}}, &openflow.GetConfigRequest{},
		&openflow.DescRequest{})
	if len(rs) != 4 {
		t.Fatalf("got %d replies, want 4: %#v", len(rs), rs)
	}
	if e, ok := rs[0].(*openflow.EchoReply); !ok || string(e.Data) != "ping" {
		t.Errorf("echo: got %#v", rs[0])
	}
	if f, ok := rs[1].(*openflow.FeaturesReply); !ok || f.DatapathID != 0xabc || f.NTables != 254 {
		t.Errorf("features: got %#v", rs[1])
	}
	if g, ok := rs[2].(*openflow.GetConfigReply); !ok || g.MissSendLen != 200 {
		t.Errorf("get config: got %#v, want miss_send_len 200", rs[2])
	}
	if d, ok := rs[3].(*openflow.DescReply); !ok || d.Datapath != "brx" {
		t.Errorf("desc: got %#v", rs[3])
	}
}

func TestFlowModSemantics(t *testing.T) {
	steps := []struct {
		name string
		mods []openflow.Message
		want []string
	}{
		{"add", []openflow.Message{}, []string{
			"cookie=0x1, priority=100,ip,nw_dst=10.0.0.1 actions=output:1",
			"cookie=0x2, priority=100,ip,nw_dst=10.0.0.2 actions=output:2",
			"cookie=0x2, table=1, priority=5,in_port=3 actions=drop",
		}},
		{"modify strict keeps cookie", nil, []string{
			"cookie=0x1, priority=100,ip,nw_dst=10.0.0.1 actions=output:3",
			"cookie=0x2, priority=100,ip,nw_dst=10.0.0.2 actions=output:2",
			"cookie=0x2, table=1, priority=5,in_port=3 actions=drop",
		}},
		{"delete by out_port", nil, []string{
			"cookie=0x1, priority=100,ip,nw_dst=10.0.0.1 actions=output:3",
			"cookie=0x2, table=1, priority=5,in_port=3 actions=drop",
		}},
		{"delete by cookie", nil, []string{
			"cookie=0x1, priority=100,ip,nw_dst=10.0.0.1 actions=output:3",
		}},
		{"delete strict other priority does nothing", nil, []string{
			"cookie=0x1, priority=100,ip,nw_dst=10.0.0.1 actions=output:3",
		}},
		{"delete non-strict by match", nil, nil},
	}
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	steps[0].mods = []openflow.Message{
		flowMod(t, "cookie=0x1,priority=100,ip,nw_dst=10.0.0.1,actions=output:1", openflow.FlowAdd),
		flowMod(t, "cookie=0x2,priority=100,ip,nw_dst=10.0.0.2,actions=output:2", openflow.FlowAdd),
		flowMod(t, "cookie=0x2,table=1,priority=5,in_port=3,actions=drop", openflow.FlowAdd),
	}
	steps[1].mods = []openflow.Message{flowMod(t, "priority=100,ip,nw_dst=10.0.0.1,actions=output:3", openflow.FlowModifyStrict)}
	del := flowMod(t, "table=0,actions=drop", openflow.FlowDelete)
	del.OutPort = 2
	steps[2].mods = []openflow.Message{del}
	byCookie := flowMod(t, "actions=drop", openflow.FlowDelete)
	byCookie.Cookie, byCookie.CookieMask = 2, ^uint64(0)
	steps[3].mods = []openflow.Message{byCookie}
	steps[4].mods = []openflow.Message{flowMod(t, "priority=99,ip,nw_dst=10.0.0.1,actions=drop", openflow.FlowDeleteStrict)}
	steps[5].mods = []openflow.Message{flowMod(t, "ip,actions=drop", openflow.FlowDelete)}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			c.t = t
			c.mustOK(st.mods...)
			got := c.dumpFlows()
			if !slices.Equal(got, st.want) {
				t.Errorf("flows:\ngot  %q\nwant %q", got, st.want)
			}
		})
	}
}

func TestFlowModErrors(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	addAll := flowMod(t, "actions=drop", openflow.FlowAdd)
	addAll.TableID = openflow.TableAll
	badCmd := flowMod(t, "actions=drop", openflow.FlowAdd)
	badCmd.Command = 9
	buffered := flowMod(t, "actions=drop", openflow.FlowAdd)
	buffered.BufferID = 7
	overlap := flowMod(t, "priority=7,ip,actions=drop", openflow.FlowAdd)
	overlap.Flags |= openflow.FlowCheckOverlap
	c.mustOK(flowMod(t, "priority=7,ip,nw_src=10.0.0.0/8,actions=drop", openflow.FlowAdd))
	for _, tc := range []struct {
		name string
		m    openflow.Message
		want openflow.Error
	}{
		{"add to table all", addAll, openflow.ErrFlowModBadTableID},
		{"bad command", badCmd, openflow.ErrFlowModBadCommand},
		{"buffer id", buffered, openflow.Error{ErrType: openflow.ErrTypeBadRequest, Code: 8}},
		{"unknown group", flowMod(t, "actions=group:9", openflow.FlowAdd), openflow.ErrBadActionOutGroup},
		{"unknown meter", flowMod(t, "actions=meter:9,output:1", openflow.FlowAdd), openflow.ErrMeterUnknown},
		{"check overlap", overlap, openflow.ErrFlowModOverlap},
		{"goto backwards", flowMod(t, "table=3,actions=goto_table:4", openflow.FlowAdd), openflow.Error{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			if tc.want.ErrType == 0 && tc.want.Code == 0 {
				c.mustOK(tc.m)
				return
			}
			c.wantError(tc.m, tc.want)
		})
	}
}

func TestMalformedMessagesKeepConnection(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	hdr := func(typ openflow.Type, body ...byte) []byte {
		b := []byte{openflow.Version, byte(typ), 0, byte(8 + len(body)), 0, 0, 0, 9}
		return append(b, body...)
	}
	good, _ := openflow.Marshal(9, flowMod(t, "ip,actions=output:1", openflow.FlowAdd))
	badField := append([]byte(nil), good...)
	badField[8+40+4+2] = 0x7f << 1 // an OXM basic field number OpenFlow does not define
	for _, tc := range []struct {
		name string
		raw  []byte
		want openflow.ErrorType
	}{
		{"unknown type", hdr(99), openflow.ErrTypeBadRequest},
		{"features with body", hdr(openflow.TypeFeaturesRequest, 1, 2, 3, 4), openflow.ErrTypeBadRequest},
		{"short flow mod", hdr(openflow.TypeFlowMod, 0, 0, 0, 0), openflow.ErrTypeBadRequest},
		{"flow mod unknown match field", badField, openflow.ErrTypeBadMatch},
		{"old version", append([]byte{0x04}, hdr(openflow.TypeEchoRequest)[1:]...), openflow.ErrTypeBadRequest},
		{"unknown multipart", hdr(openflow.TypeMultipartRequest, 0, 99, 0, 0, 0, 0, 0, 0), openflow.ErrTypeBadRequest},
		{"unknown experimenter", hdr(openflow.TypeExperimenter, 0, 0, 0, 1, 0, 0, 0, 1), openflow.ErrTypeBadRequest},
		{"controller-only message", hdr(openflow.TypeFlowRemoved), openflow.ErrTypeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.WriteRaw(tc.raw)
			if err := c.Flush(); err != nil {
				t.Fatal(err)
			}
			h, m := c.read()
			e, ok := m.(*openflow.Error)
			if !ok || h.XID != 9 || e.ErrType != tc.want {
				t.Fatalf("got %v %#v, want an error of type %d for xid 9", h, m, tc.want)
			}
			if len(e.Data) == 0 {
				t.Errorf("error carries no part of the request")
			}
			if rs := c.roundTrip(&openflow.EchoRequest{}); len(rs) != 1 {
				t.Fatalf("connection unusable after the error: %#v", rs)
			}
		})
	}
}

func TestBundleCommitIsAtomic(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	const n = 2000
	var msgs []openflow.Message
	msgs = append(msgs, &openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleOpenRequest, Flags: openflow.BundleAtomic})
	for i := range n {
		fm := flowMod(t, "priority=10,ip,actions=output:1", openflow.FlowAdd)
		fm.Match.Set(flow.FieldNwDst, uint64(0x0a000000+i), 0xffffffff)
		msgs = append(msgs, &openflow.BundleAdd{BundleID: 1, Flags: openflow.BundleAtomic, Message: fm})
	}
	for _, r := range c.roundTrip(msgs...) {
		if e, ok := r.(*openflow.Error); ok {
			t.Fatalf("bundle add: %s", e.Name())
		}
	}
	// A reader watching the tables sees 0 or n flows, nothing in between.
	var partial atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if k := len(sw.Pipeline().Flows()); k != 0 && k != n {
				partial.Store(int64(k))
			}
		}
	}()
	rs := c.roundTrip(&openflow.BundleControl{BundleID: 1, CtlType: openflow.BundleCommitRequest, Flags: openflow.BundleAtomic})
	close(stop)
	<-done
	if len(rs) != 1 {
		t.Fatalf("commit: got %#v", rs)
	}
	if r, ok := rs[0].(*openflow.BundleControl); !ok || r.CtlType != openflow.BundleCommitReply {
		t.Fatalf("commit: got %#v, want COMMIT_REPLY", rs[0])
	}
	if k := partial.Load(); k != 0 {
		t.Errorf("a reader saw %d of %d flows", k, n)
	}
	if got := len(sw.Pipeline().Flows()); got != n {
		t.Errorf("after commit: %d flows, want %d", got, n)
	}
}

func TestBundleFailureAppliesNothing(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	add := func(s string) openflow.Message {
		return &openflow.BundleAdd{BundleID: 7, Message: flowMod(t, s, openflow.FlowAdd)}
	}
	c.mustOK(add("priority=1,ip,actions=output:1"))
	g := &flow.GroupEntry{ID: 5, Type: flow.GroupAll, Buckets: []flow.Bucket{{ID: flow.BucketIDNone, Actions: []flow.Action{&flow.Output{Port: 2}}}}}
	gm, err := openflow.GroupModFor(g, openflow.GroupAdd)
	if err != nil {
		t.Fatal(err)
	}
	c.mustOK(&openflow.BundleAdd{BundleID: 7, Message: gm},
		&openflow.BundleAdd{BundleID: 7, Message: gm}) // the second add of group 5 fails at commit
	rs := c.roundTrip(&openflow.BundleControl{BundleID: 7, CtlType: openflow.BundleCommitRequest})
	var names []string
	for _, r := range rs {
		if e, ok := r.(*openflow.Error); ok {
			names = append(names, e.Name())
		}
	}
	// The group error has the bundled message's xid, which roundTrip does not know: async.
	for _, r := range c.async {
		if e, ok := r.(*openflow.Error); ok {
			names = append(names, e.Name())
		}
	}
	want := []string{"OFPBFC_MSG_FAILED", "OFPGMFC_GROUP_EXISTS"}
	slices.Sort(names)
	if !slices.Equal(names, want) {
		t.Errorf("errors: got %v, want %v", names, want)
	}
	if got := c.dumpFlows(); len(got) != 0 {
		t.Errorf("failed bundle left flows: %q", got)
	}
	// The bundle is gone: committing again names a bad id.
	c.wantError(&openflow.BundleControl{BundleID: 7, CtlType: openflow.BundleCommitRequest}, openflow.ErrBundleBadID)
}

func TestBundleControlErrors(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	open := &openflow.BundleControl{BundleID: 3, CtlType: openflow.BundleOpenRequest}
	rs := c.roundTrip(open)
	if r, ok := rs[0].(*openflow.BundleControl); !ok || r.CtlType != openflow.BundleOpenReply {
		t.Fatalf("open: got %#v", rs)
	}
	c.wantError(open, openflow.ErrBundleExists)
	c.wantError(&openflow.BundleAdd{BundleID: 3, Message: &openflow.EchoRequest{}}, openflow.ErrBundleMsgUnsup)
	c.wantError(&openflow.BundleAdd{BundleID: 3, Flags: openflow.BundleOrdered, Message: flowMod(t, "actions=drop", openflow.FlowAdd)}, openflow.ErrBundleBadFlags)
	c.mustOK(&openflow.BundleControl{BundleID: 3, CtlType: openflow.BundleCloseRequest})
	c.wantError(&openflow.BundleAdd{BundleID: 3, Message: flowMod(t, "actions=drop", openflow.FlowAdd)}, openflow.ErrBundleClosed)
	c.mustOK(&openflow.BundleControl{BundleID: 3, CtlType: openflow.BundleDiscardRequest})
	c.wantError(&openflow.BundleControl{BundleID: 3, CtlType: openflow.BundleDiscardRequest}, openflow.ErrBundleBadID)
	c.wantError(&openflow.BundleControl{BundleID: 4, CtlType: 42}, openflow.ErrBundleBadType)
}

func TestGroupMods(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	parse := func(s string) *flow.GroupEntry {
		g, err := flow.ParseGroup(s)
		if err != nil {
			t.Fatalf("parse group %q: %v", s, err)
		}
		return g
	}
	mod := func(s string, cmd openflow.GroupModCommand) *openflow.GroupMod {
		m, err := openflow.GroupModFor(parse(s), cmd)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	c.mustOK(mod("group_id=1,type=select,bucket=output:1,bucket=output:2", openflow.GroupAdd))
	c.wantError(mod("group_id=1,type=all,bucket=output:1", openflow.GroupAdd), openflow.ErrGroupExists)
	c.wantError(mod("group_id=2,type=all,bucket=output:1", openflow.GroupModify), openflow.ErrGroupUnknown)
	c.mustOK(flowMod(t, "ip,actions=group:1", openflow.FlowAdd))
	ins := mod("group_id=1,type=select,bucket=bucket_id:7,actions=output:3", openflow.GroupInsertBucket)
	ins.CommandBucketID = openflow.BucketLast
	c.mustOK(ins)
	rem := mod("group_id=1,type=select", openflow.GroupRemoveBucket)
	rem.CommandBucketID = 0
	c.mustOK(rem)
	rs := c.roundTrip(&openflow.GroupDescRequest{GroupID: openflow.GroupAll}, &openflow.GroupStatsRequest{GroupID: openflow.GroupAll})
	gd := rs[0].(*openflow.GroupDescReply)
	if len(gd.Groups) != 1 {
		t.Fatalf("group desc: %#v", gd)
	}
	e, err := gd.Groups[0].Entry()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.String(), "group_id=1,type=select,bucket=bucket_id:1,actions=output:2,bucket=bucket_id:7,actions=output:3"; got != want {
		t.Errorf("group:\ngot  %s\nwant %s", got, want)
	}
	if gs := rs[1].(*openflow.GroupStatsReply); len(gs.Groups) != 1 || gs.Groups[0].RefCount != 1 {
		t.Errorf("group stats: got %#v, want one group with ref_count 1", gs)
	}
	// Deleting the group deletes the flow that uses it.
	c.mustOK(&openflow.GroupMod{Command: openflow.GroupDelete, GroupID: openflow.GroupAll})
	if got := c.dumpFlows(); len(got) != 0 {
		t.Errorf("flows after group delete: %q", got)
	}
}

func TestMeterMods(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	m := &openflow.MeterMod{Command: openflow.MeterAdd, Flags: openflow.MeterFlagPktps, MeterID: 3,
		Bands: []openflow.Band{{Type: openflow.BandDrop, Rate: 100}}}
	c.mustOK(m)
	c.wantError(m, openflow.ErrMeterExists)
	c.mustOK(flowMod(t, "ip,actions=meter:3,output:1", openflow.FlowAdd))
	rs := c.roundTrip(&openflow.MeterStatsRequest{MeterID: openflow.MeterAll})
	ms, ok := rs[0].(*openflow.MeterStatsReply)
	if !ok || len(ms.Meters) != 1 || ms.Meters[0].FlowCount != 1 {
		t.Fatalf("meter stats: got %#v", rs[0])
	}
	c.mustOK(&openflow.MeterMod{Command: openflow.MeterDelete, MeterID: 3})
	if got := c.dumpFlows(); len(got) != 0 {
		t.Errorf("flows after meter delete: %q", got)
	}
	c.wantError(&openflow.MeterMod{Command: openflow.MeterModify, MeterID: 3, Bands: m.Bands, Flags: m.Flags}, openflow.ErrMeterUnknown)
}

func TestFlowRemoved(t *testing.T) {
	var now atomic.Int64
	now.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	sw := startSwitch(t, ofswitch.Options{Clock: clock, ExpireInterval: time.Hour})
	c := dial(t, sw)
	c.mustOK(flowMod(t, "cookie=0x5,priority=9,ip,send_flow_rem,actions=output:1", openflow.FlowAdd),
		flowMod(t, "cookie=0x6,priority=8,hard_timeout=10,send_flow_rem,arp,actions=output:1", openflow.FlowAdd),
		flowMod(t, "priority=7,tcp,actions=output:1", openflow.FlowAdd),
		flowMod(t, "cookie=0x7,priority=6,idle_timeout=5,send_flow_rem,ipv6,actions=output:1", openflow.FlowAdd),
		flowMod(t, "priority=5,idle_timeout=50,send_flow_rem,ipv6,actions=output:1", openflow.FlowAdd))
	c.mustOK(flowMod(t, "ip,actions=drop", openflow.FlowDelete)) // both ip flows; only one asked
	arp := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06,
		0, 1, 0x08, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 10, 0, 0, 1, 0, 0, 0, 0, 0, 0, 10, 0, 0, 2}
	po := &openflow.PacketOut{BufferID: openflow.NoBuffer, Actions: []openflow.Action{&openflow.Output{Port: openflow.PortTable}}, Data: arp}
	po.Match.Set(flow.FieldInPort, 2, ^uint64(0))
	c.mustOK(po)
	now.Add(int64(11 * time.Second))
	sw.Expire()
	c.roundTrip(&openflow.EchoRequest{})
	var got []string
	for _, m := range c.async {
		if fr, ok := m.(*openflow.FlowRemoved); ok {
			got = append(got, strings.Join([]string{fr.Match.String(), reasonName(fr.Reason)}, " "))
			if fr.Match.String() == "arp" && fr.Stats.PacketCount != 1 {
				t.Errorf("arp flow removed with %d packets, want 1", fr.Stats.PacketCount)
			}
		}
	}
	slices.Sort(got)
	want := []string{"arp hard_timeout", "ip delete", "ipv6 idle_timeout"}
	if !slices.Equal(got, want) {
		t.Errorf("flow removed: got %q, want %q", got, want)
	}
}

func reasonName(r uint8) string {
	return map[uint8]string{openflow.RemovedIdleTimeout: "idle_timeout", openflow.RemovedHardTimeout: "hard_timeout",
		openflow.RemovedDelete: "delete"}[r]
}

func TestPortStatusAndDesc(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{Bridge: "br9"})
	c := dial(t, sw)
	other := dial(t, sw) // every controller gets port status
	if err := sw.AddPort(ofswitch.PortDesc{OFPort: 9, Name: "veth9", MAC: [6]byte{2, 0, 0, 0, 0, 9}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := sw.SetPortState(9, false, true); err != nil {
		t.Fatal(err)
	}
	if err := sw.RemovePort(9); err != nil {
		t.Fatal(err)
	}
	if err := sw.RemovePort(9); !errors.Is(err, ofswitch.ErrNoPort) {
		t.Errorf("second remove: got %v, want ErrNoPort", err)
	}
	rs := c.roundTrip(&openflow.PortDescRequest{PortNo: openflow.PortAny})
	other.roundTrip(&openflow.EchoRequest{})
	if n := len(other.async); n != 3 {
		t.Errorf("second controller got %d port-status messages, want 3", n)
	}
	var got []string
	for _, m := range c.async {
		if ps, ok := m.(*openflow.PortStatus); ok {
			got = append(got, ps.Port.Name+" "+[]string{"add", "delete", "modify"}[ps.Reason]+" "+map[bool]string{true: "down", false: "up"}[ps.Port.State&openflow.PortStateLinkDown != 0])
		}
	}
	if want := []string{"veth9 add up", "veth9 modify down", "veth9 delete down"}; !slices.Equal(got, want) {
		t.Errorf("port status: got %q, want %q", got, want)
	}
	var names []string
	for _, p := range rs[0].(*openflow.PortDescReply).Ports {
		names = append(names, p.Name)
	}
	if want := []string{"p1", "p2", "p3", "p4", "br9"}; !slices.Equal(names, want) {
		t.Errorf("port desc: got %q, want %q", names, want)
	}
}

// frame returns a minimal IPv4/UDP frame from 10.0.0.1 to dst.
func frame(dst byte) []byte {
	f := []byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00,
		0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, dst,
		0, 1, 0, 2, 0, 8, 0, 0}
	return f
}

func TestPacketOutAndPacketIn(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	c.mustOK(flowMod(t, "priority=10,ip,nw_dst=10.0.0.2,actions=output:2", openflow.FlowAdd),
		flowMod(t, "priority=10,ip,nw_dst=10.0.0.3,actions=controller(userdata=01.02)", openflow.FlowAdd))
	out := func(inPort uint32, port uint32, data []byte) *openflow.PacketOut {
		po := &openflow.PacketOut{BufferID: openflow.NoBuffer, Actions: []openflow.Action{&openflow.Output{Port: port, MaxLen: 0xffff}}, Data: data}
		po.Match.Set(flow.FieldInPort, uint64(inPort), ^uint64(0))
		return po
	}
	c.mustOK(out(1, 3, frame(9)), out(1, openflow.PortTable, frame(2)))
	if n := len(sw.ports[3].Frames()); n != 1 {
		t.Errorf("port 3 got %d frames, want 1", n)
	}
	if n := len(sw.ports[2].Frames()); n != 1 {
		t.Errorf("port 2 got %d frames through the tables, want 1", n)
	}
	c.wantError(out(1, 77, frame(2)), openflow.ErrBadActionOutPort)
	po := out(1, 2, frame(2))
	po.Actions = append([]openflow.Action{&openflow.Resubmit{InPort: 0xfff8, Table: 3}}, po.Actions...)
	c.wantError(po, openflow.Error{ErrType: openflow.ErrTypeBadAction, Code: 11})
	// set_field then output, run in a scratch pipeline: port 3 gets the rewritten frame.
	sf := mustFlow(t, "ip,actions=mod_nw_dst:10.0.0.99,output:3")
	sfActs, err := openflow.FromActions(sf.Instructions.Apply)
	if err != nil {
		t.Fatal(err)
	}
	po = out(1, 3, frame(2))
	po.Actions = sfActs
	c.mustOK(po)
	if fs := sw.ports[3].Frames(); len(fs) != 2 || fs[1][33] != 99 {
		t.Errorf("port 3 frames after set_field packet-out: %x", fs)
	}

	// Packet-in: standard format first, then NXT_PACKET_IN2 with the userdata.
	c.mustOK(out(1, openflow.PortTable, frame(3)))
	c.mustOK(&openflow.SetPacketInFormat{Format: openflow.PacketInFormatNXT2}, out(4, openflow.PortTable, frame(3)))
	var pin *openflow.PacketIn
	var pin2 *openflow.PacketIn2
	for _, m := range c.async {
		switch m := m.(type) {
		case *openflow.PacketIn:
			pin = m
		case *openflow.PacketIn2:
			pin2 = m
		}
	}
	if pin == nil || pin.Reason != openflow.ReasonAction || pin.Match.Key.Get(flow.FieldInPort) != 1 || len(pin.Data) != len(frame(3)) {
		t.Errorf("packet-in: got %#v", pin)
	}
	if pin2 == nil || string(pin2.UserData) != "\x01\x02" || pin2.Metadata.Key.Get(flow.FieldInPort) != 4 {
		t.Errorf("packet-in2: got %#v", pin2)
	}
}

func TestPacketInRateLimit(t *testing.T) {
	var now atomic.Int64
	clock := func() time.Time { return time.Unix(0, now.Load()) }
	sw := startSwitch(t, ofswitch.Options{Clock: clock, PacketInRate: 5, ExpireInterval: time.Hour})
	c := dial(t, sw)
	c.mustOK(flowMod(t, "ip,actions=controller", openflow.FlowAdd))
	po := &openflow.PacketOut{BufferID: openflow.NoBuffer, Actions: []openflow.Action{&openflow.Output{Port: openflow.PortTable}}, Data: frame(2)}
	po.Match.Set(flow.FieldInPort, 1, ^uint64(0))
	var msgs []openflow.Message
	for range 20 {
		msgs = append(msgs, po)
	}
	c.mustOK(msgs...)
	n := 0
	for _, m := range c.async {
		if _, ok := m.(*openflow.PacketIn); ok {
			n++
		}
	}
	if n != 5 {
		t.Errorf("got %d packet-ins with a burst of 5 and a stopped clock, want 5", n)
	}
	if got := sw.Counters().PacketInsRateLimited; got != 15 {
		t.Errorf("rate-limited counter: got %d, want 15", got)
	}
}

func TestRoles(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	a, b := dial(t, sw), dial(t, sw)
	role := func(c *client, r uint32, gen uint64) openflow.Message {
		return c.roundTrip(&openflow.RoleRequest{Role: openflow.Role{Role: r, GenerationID: gen}})[0]
	}
	if r, ok := role(a, openflow.RoleMaster, 1).(*openflow.RoleReply); !ok || r.Role.Role != openflow.RoleMaster {
		t.Fatalf("a master: got %#v", r)
	}
	if r, ok := role(b, openflow.RoleMaster, 2).(*openflow.RoleReply); !ok || r.Role.Role != openflow.RoleMaster {
		t.Fatalf("b master: got %#v", r)
	}
	// a was demoted: it may not change the switch any more.
	a.wantError(flowMod(t, "actions=drop", openflow.FlowAdd), openflow.Error{ErrType: openflow.ErrTypeBadRequest, Code: 10})
	a.wantError(&openflow.RoleRequest{Role: openflow.Role{Role: openflow.RoleMaster, GenerationID: 1}}, openflow.ErrRoleStale)
	b.mustOK(flowMod(t, "actions=drop", openflow.FlowAdd))
}

func TestStatsRequests(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	sw.ports[2].Counters.RxPackets = 42
	c := dial(t, sw)
	c.mustOK(flowMod(t, "table=3,ip,actions=output:1", openflow.FlowAdd), flowMod(t, "table=3,arp,actions=output:1", openflow.FlowAdd))
	agg := &openflow.AggregateRequest{FlowFilter: openflow.NewFlowFilter()}
	rs := c.roundTrip(agg, &openflow.TableStatsRequest{}, &openflow.PortStatsRequest{PortNo: 2})
	if a := rs[0].(*openflow.AggregateReply); a.Stats.FlowCount != 2 {
		t.Errorf("aggregate: got %d flows, want 2", a.Stats.FlowCount)
	}
	ts := rs[1].(*openflow.TableStatsReply)
	if len(ts.Tables) != 254 || ts.Tables[3].ActiveCount != 2 {
		t.Errorf("table stats: got %d tables, table 3 active %d", len(ts.Tables), ts.Tables[3].ActiveCount)
	}
	if ps := rs[2].(*openflow.PortStatsReply); len(ps.Ports) != 1 || ps.Ports[0].RxPackets != 42 {
		t.Errorf("port stats: got %#v", ps.Ports)
	}
	c.wantError(&openflow.PortStatsRequest{PortNo: 99}, openflow.ErrBadRequestPort)
}

func TestLargeDumpIsSplit(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	var flows []*flow.Flow
	for i := range 3000 {
		f := mustFlow(t, "priority=10,ip,actions=output:1")
		f.Match.Set(flow.FieldNwDst, uint64(0x0a000000+i), 0xffffffff)
		flows = append(flows, f)
	}
	if err := sw.Pipeline().AddFlows(flows); err != nil {
		t.Fatal(err)
	}
	rs := c.roundTrip(&openflow.FlowDescRequest{FlowFilter: openflow.NewFlowFilter()})
	total := 0
	for i, r := range rs {
		rep := r.(*openflow.FlowDescReply)
		total += len(rep.Flows)
		if more := rep.Flags&openflow.MultipartMore != 0; more != (i < len(rs)-1) {
			t.Errorf("reply %d of %d: more=%v", i, len(rs), more)
		}
	}
	if total != 3000 || len(rs) < 2 {
		t.Errorf("got %d flows in %d replies, want 3000 in several", total, len(rs))
	}
}

func TestBundleAddThenModify(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	in := func(m openflow.Message) openflow.Message { return &openflow.BundleAdd{BundleID: 2, Message: m} }
	c.mustOK(flowMod(t, "priority=5,ip,nw_dst=10.0.0.9,actions=output:4", openflow.FlowAdd),
		in(flowMod(t, "cookie=0x7,priority=5,ip,nw_dst=10.0.0.1,actions=output:1", openflow.FlowAdd)),
		in(flowMod(t, "cookie=0x8,priority=5,ip,nw_dst=10.0.0.1,actions=output:2", openflow.FlowAdd)),
		in(flowMod(t, "priority=5,ip,actions=output:3", openflow.FlowModify)),
		in(flowMod(t, "priority=6,arp,actions=output:1", openflow.FlowAdd)),
		&openflow.BundleControl{BundleID: 2, CtlType: openflow.BundleCommitRequest})
	want := []string{
		"cookie=0x8, priority=5,ip,nw_dst=10.0.0.1 actions=output:3",
		"priority=5,ip,nw_dst=10.0.0.9 actions=output:3",
		"priority=6,arp actions=output:1",
	}
	if got := c.dumpFlows(); !slices.Equal(got, want) {
		t.Errorf("flows:\ngot  %q\nwant %q", got, want)
	}
}

func TestPortMod(t *testing.T) {
	sw := startSwitch(t, ofswitch.Options{})
	c := dial(t, sw)
	mac := [6]byte{2, 0, 0, 0, 0, 2}
	for _, tc := range []struct {
		name string
		m    *openflow.PortMod
		want openflow.Error
	}{
		{"unknown port", &openflow.PortMod{PortNo: 77, HWAddr: mac, Mask: openflow.PortConfigDown}, openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 0}},
		{"wrong address", &openflow.PortMod{PortNo: 2, HWAddr: [6]byte{9}, Mask: openflow.PortConfigDown}, openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 1}},
		{"no_fwd unsupported", &openflow.PortMod{PortNo: 2, HWAddr: mac, Mask: openflow.PortConfigNoFwd}, openflow.Error{ErrType: openflow.ErrTypePortModFailed, Code: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c.t = t
			c.wantError(tc.m, tc.want)
		})
	}
	c.t = t
	c.mustOK(&openflow.PortMod{PortNo: 2, HWAddr: mac, Config: openflow.PortConfigDown, Mask: openflow.PortConfigDown})
	rs := c.roundTrip(&openflow.PortDescRequest{PortNo: 2})
	if p := rs[0].(*openflow.PortDescReply).Ports; len(p) != 1 || p[0].Config&openflow.PortConfigDown == 0 {
		t.Errorf("port 2 after mod-port down: %#v", p)
	}
	// A port that is down transmits nothing.
	po := &openflow.PacketOut{BufferID: openflow.NoBuffer, Actions: []openflow.Action{&openflow.Output{Port: 2}}, Data: frame(2)}
	po.Match.Set(flow.FieldInPort, 1, ^uint64(0))
	c.mustOK(po)
	if n := len(sw.ports[2].Frames()); n != 0 {
		t.Errorf("port 2 (down) transmitted %d frames", n)
	}
}
