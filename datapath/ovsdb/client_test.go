package ovsdb_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ovn-org/libovsdb/model"
	"github.com/ovn-org/libovsdb/ovsdb"

	sovsdb "github.com/sluicenet/sluice/datapath/ovsdb"
	"github.com/sluicenet/sluice/datapath/ovsdb/ovsdbtest"
	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

type env struct {
	vs *vsctl
	dp *ovsdbtest.Datapath
	c  *sovsdb.Client
}

// setup starts an in-memory database with the root row, a fake datapath and a Client, and
// adds bridge br0 of type sluice.
func setup(t *testing.T) env {
	t.Helper()
	ep := ovsdbtest.NewServer(t)
	vs := newVSCtl(t, ep)
	dp := ovsdbtest.NewDatapath()
	c, _ := startClient(t, ep, dp)
	t.Cleanup(func() { noViolations(t, dp) })
	vs.waitMonitoring()
	vs.do(vs.addBridge("br0", sovsdb.DatapathType))
	return env{vs: vs, dp: dp, c: c}
}

func wantOFPort(t *testing.T, vs *vsctl, name string, want int) {
	t.Helper()
	if got := vs.ofport(name); got != want {
		i := vs.iface(name)
		t.Fatalf("interface %s: ofport %d, want %d (error %q)", name, got, want, deref(i.Error))
	}
}

func deref[T any](p *T) T {
	var z T
	if p == nil {
		return z
	}
	return *p
}

func TestClient(t *testing.T) {
	t.Run("bridge local port is 65534 and cur_cfg follows next_cfg", func(t *testing.T) {
		e := setup(t)
		wantOFPort(t, e.vs, "br0", sovsdb.OFPortLocal)
		p, ok := e.dp.Ports()["br0"]
		if !ok || p.Kind != sovsdb.KindInternal {
			t.Fatalf("datapath ports %v: want br0 attached as internal", e.dp.Ports())
		}
		if _, ok := e.dp.Bridges()["br0"]; !ok {
			t.Fatalf("datapath bridges %v: want br0", e.dp.Bridges())
		}
	})

	t.Run("ofport_request is honoured and others get the lowest free number", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 7), e.vs.addPort("br0", "veth1", "", nil, 0),
			e.vs.addPort("br0", "veth2", "system", nil, 0))
		wantOFPort(t, e.vs, "veth0", 7)
		wantOFPort(t, e.vs, "veth1", 1)
		wantOFPort(t, e.vs, "veth2", 2)
	})

	t.Run("a request for a taken number falls back, then moves when it is free", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 0)) // gets 1
		e.vs.do(e.vs.addPort("br0", "veth1", "", nil, 1)) // wants 1, held by veth0
		wantOFPort(t, e.vs, "veth0", 1)
		wantOFPort(t, e.vs, "veth1", 2)
		e.vs.do(e.vs.delPort("br0", "veth0"))
		wantOFPort(t, e.vs, "veth1", 1)
	})

	t.Run("status columns are written after attach", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 3))
		i := e.vs.iface("veth0")
		checks := []struct{ col, got, want string }{
			{"admin_state", deref(i.AdminState), "up"},
			{"link_state", deref(i.LinkState), "up"},
			{"mac_in_use", deref(i.MACInUse), ovsdbtest.MAC("veth0").String()},
			{"ifindex", fmt.Sprint(deref(i.Ifindex)), "1003"},
			{"mtu", fmt.Sprint(deref(i.MTU)), "1500"},
			{"error", fmt.Sprint(i.Error), "<nil>"},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s: got %q, want %q", c.col, c.got, c.want)
			}
		}
	})

	t.Run("statistics are refreshed every status interval", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 0))
		e.dp.SetCounters("veth0", sovsdb.Counters{RxPackets: 42, TxBytes: 4242})
		e.vs.eventually("statistics show the counters", func() error {
			s := e.vs.iface("veth0").Statistics
			if s["rx_packets"] != 42 || s["tx_bytes"] != 4242 {
				return fmt.Errorf("statistics %v", s)
			}
			return nil
		})
	})

	t.Run("missing netdev gets ofport -1 and an error, and attaches once it exists", func(t *testing.T) {
		e := setup(t)
		e.dp.SetMissing("veth9", true)
		e.vs.do(e.vs.addPort("br0", "veth9", "", nil, 9))
		wantOFPort(t, e.vs, "veth9", -1)
		msg := deref(e.vs.iface("veth9").Error)
		if !strings.Contains(msg, "veth9") || !strings.Contains(msg, ovsdbtest.ErrNoDevice.Error()) {
			t.Fatalf("error column %q: want it to name veth9 and say %q", msg, ovsdbtest.ErrNoDevice)
		}
		e.dp.SetMissing("veth9", false)
		e.c.Resync()
		e.vs.eventually("veth9 attached after resync", func() error {
			if got := e.vs.ofport("veth9"); got != 9 {
				return fmt.Errorf("ofport %d, error %q", got, deref(e.vs.iface("veth9").Error))
			}
			if e.vs.iface("veth9").Error != nil {
				return errors.New("error column not cleared")
			}
			return nil
		})
	})

	t.Run("a port whose status fails is detached, reported and retried", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 5))
		e.dp.SetBroken("veth0", errors.New("netdev renamed"))
		e.vs.eventually("veth0 reported broken", func() error {
			i := e.vs.iface("veth0")
			if deref(i.Ofport) != -1 || !strings.Contains(deref(i.Error), "netdev renamed") {
				return fmt.Errorf("ofport %d error %q", deref(i.Ofport), deref(i.Error))
			}
			return nil
		})
		e.dp.SetBroken("veth0", nil)
		e.vs.eventually("veth0 back on its port", func() error {
			if got := e.vs.ofport("veth0"); got != 5 {
				return fmt.Errorf("ofport %d", got)
			}
			return nil
		})
	})

	t.Run("removed port is detached", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 0))
		e.vs.do(e.vs.delPort("br0", "veth0"))
		e.vs.eventually("veth0 detached", func() error {
			if _, ok := e.dp.Ports()["veth0"]; ok {
				return errors.New("veth0 still attached")
			}
			return nil
		})
	})

	t.Run("rename in one transaction moves the ofport to the new name", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 7))
		e.vs.do(e.vs.delPort("br0", "veth0"), e.vs.addPort("br0", "veth1", "", nil, 7))
		wantOFPort(t, e.vs, "veth1", 7)
		ports := e.dp.Ports()
		if _, ok := ports["veth0"]; ok {
			t.Errorf("veth0 still attached")
		}
		if ports["veth1"].OFPort != 7 {
			t.Errorf("veth1 attached with ofport %d, want 7", ports["veth1"].OFPort)
		}
	})

	t.Run("ofport_request change re-attaches on the new number", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 0))
		e.vs.do(e.vs.setInterface("veth0", func(i *vswitch.Interface) []any {
			r := 20
			i.OfportRequest = &r
			return []any{&i.OfportRequest}
		}))
		wantOFPort(t, e.vs, "veth0", 20)
		if got := e.dp.Ports()["veth0"].OFPort; got != 20 {
			t.Fatalf("datapath ofport %d, want 20", got)
		}
	})

	t.Run("bridges of other datapath types are left alone", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addBridge("brk", ""))
		e.vs.do(e.vs.addPort("brk", "kveth", "", nil, 4))
		if got := e.vs.ofport("kveth"); got != 0 {
			t.Errorf("kveth on a system bridge: ofport %d, want the column left empty", got)
		}
		if _, ok := e.dp.Bridges()["brk"]; ok {
			t.Errorf("datapath got bridge brk")
		}
	})

	t.Run("bridge leaving sluice is torn down", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 0))
		e.vs.do(e.vs.setBridgeType("br0", "netdev"))
		e.vs.eventually("br0 gone from the datapath", func() error {
			if len(e.dp.Bridges()) != 0 || len(e.dp.Ports()) != 0 {
				return fmt.Errorf("bridges %v ports %v", e.dp.Bridges(), e.dp.Ports())
			}
			return nil
		})
	})

	t.Run("bridge configuration change reaches the datapath", func(t *testing.T) {
		e := setup(t)
		b := e.vs.bridge("br0")
		b.Protocols = []string{"OpenFlow15", "OpenFlow13"}
		e.vs.do(e.vs.must(e.vs.c.Where(&b).Update(&b, &b.Protocols)))
		got := e.dp.Bridges()["br0"].Protocols
		if !slices.Equal(got, []string{"OpenFlow13", "OpenFlow15"}) {
			t.Fatalf("datapath bridge protocols %v, want [OpenFlow13 OpenFlow15]", got)
		}
		if _, ok := e.dp.Ports()["br0"]; !ok {
			t.Fatalf("a bridge update must not detach its ports: %v", e.dp.Ports())
		}
	})

	t.Run("a bridge the datapath refuses fails its ports until it is retried", func(t *testing.T) {
		ep := ovsdbtest.NewServer(t)
		vs := newVSCtl(t, ep)
		dp := ovsdbtest.NewDatapath()
		t.Cleanup(func() { noViolations(t, dp) })
		dp.SetBridgeError("br1", errors.New("out of umem"))
		startClient(t, ep, dp)
		vs.waitMonitoring()
		vs.do(vs.addBridge("br1", sovsdb.DatapathType))
		i := vs.iface("br1")
		if deref(i.Ofport) != -1 || !strings.Contains(deref(i.Error), "add bridge br1: out of umem") {
			t.Fatalf("br1 local port: ofport %d error %q, want -1 and the bridge's error", deref(i.Ofport), deref(i.Error))
		}
		dp.SetBridgeError("br1", nil)
		vs.eventually("br1 added on a retry", func() error {
			if got := vs.ofport("br1"); got != sovsdb.OFPortLocal {
				return fmt.Errorf("ofport %d", got)
			}
			return nil
		})
	})

	t.Run("set-controller reaches the datapath", func(t *testing.T) {
		e := setup(t)
		ctrl := &vswitch.Controller{UUID: "ctrl", Target: "tcp:192.0.2.9:6653"}
		b := e.vs.bridge("br0")
		e.vs.do(e.vs.must(e.vs.c.Create(ctrl)), e.vs.must(e.vs.c.Where(&b).Mutate(&b, model.Mutation{
			Field: &b.Controller, Mutator: ovsdb.MutateOperationInsert, Value: []string{ctrl.UUID}})))
		if got := e.dp.Bridges()["br0"].Controllers; !slices.Equal(got, []string{"tcp:192.0.2.9:6653"}) {
			t.Fatalf("datapath bridge controllers %v, want [tcp:192.0.2.9:6653]", got)
		}
	})

	t.Run("datapath_id and datapath_version are written and follow other_config", func(t *testing.T) {
		e := setup(t)
		b := e.vs.bridge("br0")
		want := fmt.Sprintf("%016x", sovsdb.Bridge{}.DatapathID(ovsdbtest.MAC("br0")))
		if deref(b.DatapathID) != want || b.DatapathVersion != ovsdbtest.DatapathVersion {
			t.Fatalf("datapath_id %q version %q, want %q and %q", deref(b.DatapathID), b.DatapathVersion, want, ovsdbtest.DatapathVersion)
		}
		b.OtherConfig = map[string]string{"datapath-id": "00000000000000ab"}
		e.vs.do(e.vs.must(e.vs.c.Where(&b).Update(&b, &b.OtherConfig)))
		if got := deref(e.vs.bridge("br0").DatapathID); got != "00000000000000ab" {
			t.Fatalf("datapath_id %q after setting other_config:datapath-id, want 00000000000000ab", got)
		}
	})

	t.Run("Ports reports attached and failed interfaces", func(t *testing.T) {
		e := setup(t)
		e.dp.SetMissing("veth9", true)
		e.vs.do(e.vs.addPort("br0", "veth0", "", nil, 0), e.vs.addPort("br0", "veth9", "", nil, 0))
		var got []string
		for _, p := range e.c.Ports() {
			got = append(got, fmt.Sprintf("%s:%d:%v:%v", p.Name, p.OFPort, p.Attached, p.Err != nil))
		}
		want := []string{"br0:65534:true:false", "veth0:1:true:false", "veth9:2:false:true"}
		if !slices.Equal(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})

	t.Run("unsupported type and bad tunnel options are reported", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "patch0", "patch", map[string]string{"peer": "x"}, 0),
			e.vs.addPort("br0", "gnv0", "geneve", map[string]string{"key": "flow"}, 0))
		for name, want := range map[string]string{"patch0": `unsupported interface type "patch"`, "gnv0": "remote_ip"} {
			i := e.vs.iface(name)
			if deref(i.Ofport) != -1 || !strings.Contains(deref(i.Error), want) {
				t.Errorf("%s: ofport %d error %q, want -1 and an error containing %q", name, deref(i.Ofport), deref(i.Error), want)
			}
		}
	})

	t.Run("flow-based tunnel port is attached with its parsed options", func(t *testing.T) {
		e := setup(t)
		e.vs.do(e.vs.addPort("br0", "gnv0", "geneve", map[string]string{"remote_ip": "flow", "key": "flow"}, 0))
		p := e.dp.Ports()["gnv0"]
		if p.Kind != sovsdb.KindTunnel || p.Tunnel == nil || !p.Tunnel.RemoteFlow || !p.Tunnel.KeyFlow {
			t.Fatalf("gnv0 attached as %+v tunnel %+v: want a flow-based tunnel", p, p.Tunnel)
		}
		wantOFPort(t, e.vs, "gnv0", 1)
	})

	t.Run("root row lists sluice in datapath_types and iface_types", func(t *testing.T) {
		e := setup(t)
		e.vs.eventually("types listed", func() error {
			r := e.vs.rootRow()
			if !slices.Contains(r.DatapathTypes, sovsdb.DatapathType) {
				return fmt.Errorf("datapath_types %v", r.DatapathTypes)
			}
			for _, typ := range sovsdb.IfaceTypes() {
				if !slices.Contains(r.IfaceTypes, typ) {
					return fmt.Errorf("iface_types %v lacks %s", r.IfaceTypes, typ)
				}
			}
			if deref(r.DbVersion) != vswitch.Schema().Version {
				return fmt.Errorf("db_version %q, want %q", deref(r.DbVersion), vswitch.Schema().Version)
			}
			return nil
		})
	})
}

// TestClientRestartKeepsOFPorts checks that a new process (new Client, empty datapath) gives
// interfaces without ofport_request the numbers the previous one wrote to the ofport column.
func TestClientRestartKeepsOFPorts(t *testing.T) {
	ep := ovsdbtest.NewServer(t)
	vs := newVSCtl(t, ep)
	dp1 := ovsdbtest.NewDatapath()
	_, stop1 := startClient(t, ep, dp1)
	vs.waitMonitoring()
	vs.do(vs.addBridge("br0", sovsdb.DatapathType))
	vs.do(vs.addPort("br0", "a", "", nil, 0), vs.addPort("br0", "b", "", nil, 0), vs.addPort("br0", "c", "", nil, 0))
	vs.do(vs.delPort("br0", "a")) // b=2, c=3 remain; 1 is free
	t.Run("first process numbered the ports", func(t *testing.T) {
		wantOFPort(t, vs, "b", 2)
		wantOFPort(t, vs, "c", 3)
	})
	t.Run("second process keeps them", func(t *testing.T) {
		// A second process takes over the same database after the first one exited.
		stop1()
		dp2 := ovsdbtest.NewDatapath()
		startClient(t, ep, dp2)
		vs.eventually("second datapath took over the ports", func() error {
			if p := dp2.Ports(); p["b"].OFPort != 2 || p["c"].OFPort != 3 {
				return fmt.Errorf("ports %v: want b=2 c=3", p)
			}
			return nil
		})
		vs.do(vs.addPort("br0", "d", "", nil, 0))
		if got := dp2.Ports()["d"].OFPort; got != 1 {
			t.Fatalf("new port d: ofport %d, want the free number 1", got)
		}
		noViolations(t, dp2)
	})
}

// BenchmarkAddPortWith1000Ports measures one `ovs-vsctl add-port` round trip (commit with
// next_cfg, the Client's reconcile and status write, cur_cfg back) on a bridge that already
// has 1000 ports, against the in-memory server.
func BenchmarkAddPortWith1000Ports(b *testing.B) {
	ep := ovsdbtest.NewServer(b)
	vs := newVSCtl(b, ep)
	dp := ovsdbtest.NewDatapath()
	// The default status interval: statistics of 1000 ports every 100 ms would dominate.
	startClient(b, ep, dp, func(o *sovsdb.Options) { o.StatusInterval = sovsdb.DefaultOptions().StatusInterval })
	vs.waitMonitoring()
	vs.do(vs.addBridge("br0", sovsdb.DatapathType))
	for i := range 10 {
		var ops [][]ovsdb.Operation
		for j := range 100 {
			ops = append(ops, vs.addPort("br0", fmt.Sprintf("p%d_%d", i, j), "", nil, 0))
		}
		vs.do(ops...)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		name := fmt.Sprint("new", n)
		n++
		vs.commit(vs.addPort("br0", name, "", nil, 0))
		for vs.rootRow().CurCfg < vs.next {
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "ports/s")
}
