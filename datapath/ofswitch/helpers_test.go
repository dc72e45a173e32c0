package ofswitch_test

import (
	"errors"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/ofswitch"
	"github.com/sluicenet/sluice/datapath/ofswitch/ofswitchtest"
	"github.com/sluicenet/sluice/datapath/openflow"
)

type testSwitch struct {
	*ofswitch.Switch
	ports map[uint32]*ofswitchtest.Port
}

// startSwitch starts a switch with ports 1..4 on a socket in a temporary directory.
func startSwitch(t testing.TB, opts ofswitch.Options) *testSwitch {
	t.Helper()
	if opts.Path == "" {
		opts.Path = filepath.Join(t.TempDir(), "br0.mgmt")
	}
	sw := ofswitch.New(opts)
	ports, err := ofswitchtest.AddPorts(sw, 4)
	if err != nil {
		t.Fatalf("add ports: %v", err)
	}
	if err := sw.Listen(t.Context()); err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { sw.Close() })
	return &testSwitch{Switch: sw, ports: ports}
}

// client is a controller connection for tests.
type client struct {
	t testing.TB
	*openflow.Conn
	nc    net.Conn
	async []openflow.Message // asynchronous messages read while waiting for replies
}

func dial(t testing.TB, sw *testSwitch) *client {
	t.Helper()
	nc, err := net.Dial("unix", sw.Path())
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &client{t: t, Conn: openflow.NewConn(nc), nc: nc}
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake: %v", err)
	}
	// Ask for asynchronous messages, as a controller on the management socket must.
	c.mustOK(&openflow.SetConfig{SwitchConfig: openflow.SwitchConfig{MissSendLen: 128}})
	return c
}

// read returns the next message, failing after 10 s.
func (c *client) read() (openflow.Header, openflow.Message) {
	c.t.Helper()
	c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	h, m, _, err := c.Read()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return h, m
}

// roundTrip sends msgs and a barrier and returns every reply with one of their xids (errors
// included), in order; asynchronous messages are kept in c.async.
func (c *client) roundTrip(msgs ...openflow.Message) []openflow.Message {
	c.t.Helper()
	xids := map[uint32]bool{}
	for _, m := range msgs {
		xid := c.NextXID()
		xids[xid] = true
		if err := c.Write(xid, m); err != nil {
			c.t.Fatalf("encode %T: %v", m, err)
		}
	}
	bx := c.NextXID()
	if err := c.Write(bx, &openflow.BarrierRequest{}); err != nil {
		c.t.Fatal(err)
	}
	if err := c.Flush(); err != nil {
		c.t.Fatal(err)
	}
	var out []openflow.Message
	for {
		h, m := c.read()
		if h.XID == bx {
			if _, ok := m.(*openflow.BarrierReply); ok {
				return out
			}
		}
		if xids[h.XID] {
			out = append(out, m)
			continue
		}
		c.async = append(c.async, m)
	}
}

// mustOK sends msgs and fails on any error reply.
func (c *client) mustOK(msgs ...openflow.Message) {
	c.t.Helper()
	for _, r := range c.roundTrip(msgs...) {
		if e, ok := r.(*openflow.Error); ok {
			c.t.Fatalf("switch answered %s", e.Name())
		}
	}
}

// wantError sends m and checks that the switch answers with want.
func (c *client) wantError(m openflow.Message, want openflow.Error) {
	c.t.Helper()
	rs := c.roundTrip(m)
	if len(rs) != 1 {
		c.t.Fatalf("got %d replies %v, want one error %s", len(rs), rs, want.Name())
	}
	e, ok := rs[0].(*openflow.Error)
	if !ok || !errors.Is(*e, want) {
		c.t.Fatalf("got %#v, want error %s", rs[0], want.Name())
	}
}

// dumpFlows returns the switch's flows in dump-flows --no-stats text, sorted.
func (c *client) dumpFlows() []string {
	c.t.Helper()
	req := &openflow.FlowDescRequest{FlowFilter: openflow.NewFlowFilter()}
	var out []string
	for _, r := range c.roundTrip(req) {
		rep, ok := r.(*openflow.FlowDescReply)
		if !ok {
			c.t.Fatalf("flow desc: got %#v", r)
		}
		for i := range rep.Flows {
			f, err := rep.Flows[i].Flow()
			if err != nil {
				c.t.Fatalf("decode flow: %v", err)
			}
			f.Stats = flow.Stats{}
			out = append(out, f.String())
		}
	}
	slices.Sort(out)
	return out
}

func mustFlow(t testing.TB, s string) *flow.Flow {
	t.Helper()
	f, err := flow.ParseFlow(s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return f
}

func flowMod(t testing.TB, s string, cmd openflow.FlowModCommand) *openflow.FlowMod {
	t.Helper()
	f := mustFlow(t, s)
	m, err := openflow.FlowModFor(f, cmd)
	if err != nil {
		t.Fatalf("flow mod for %q: %v", s, err)
	}
	if cmd >= openflow.FlowModify && f.Table == 0 && !hasTable(s) {
		m.TableID = openflow.TableAll
	}
	return m
}

func hasTable(s string) bool {
	for i := 0; i+6 <= len(s); i++ {
		if s[i:i+6] == "table=" {
			return true
		}
	}
	return false
}
