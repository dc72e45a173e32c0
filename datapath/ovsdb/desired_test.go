package ovsdb

import (
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/ovsdb/vswitch"
)

func TestAssignOFPorts(t *testing.T) {
	type in struct {
		name     string
		request  int
		previous int
	}
	tests := []struct {
		name       string
		ifaces     []in
		held       map[string]int
		remembered map[string]int
		want       map[string]int
	}{
		{
			name:   "local port, request, lowest free",
			ifaces: []in{{name: "br0"}, {name: "a"}, {name: "b", request: 1}, {name: "c"}},
			want:   map[string]int{"br0": OFPortLocal, "a": 2, "b": 1, "c": 3},
		},
		{
			name:   "requested numbers are not handed out automatically",
			ifaces: []in{{name: "a"}, {name: "z", request: 1}},
			want:   map[string]int{"a": 2, "z": 1},
		},
		{
			name:   "held numbers stay",
			ifaces: []in{{name: "a"}, {name: "b"}},
			held:   map[string]int{"b": 1},
			want:   map[string]int{"a": 2, "b": 1},
		},
		{
			name:   "a held number is not taken away by a request",
			ifaces: []in{{name: "a"}, {name: "b", request: 5}},
			held:   map[string]int{"a": 5},
			want:   map[string]int{"a": 5, "b": 1},
		},
		{
			name:   "an attached interface moves to its request when it is free",
			ifaces: []in{{name: "a", request: 9}},
			held:   map[string]int{"a": 1},
			want:   map[string]int{"a": 9},
		},
		{
			name:   "two requests for one number: the first name wins",
			ifaces: []in{{name: "a", request: 4}, {name: "b", request: 4}},
			want:   map[string]int{"a": 4, "b": 1},
		},
		{
			name:   "previous ofport column is kept across a restart",
			ifaces: []in{{name: "a", previous: 3}, {name: "b", previous: 1}, {name: "c"}},
			want:   map[string]int{"a": 3, "b": 1, "c": 2},
		},
		{
			name:       "remembered number beats the column",
			ifaces:     []in{{name: "a", previous: 3}},
			remembered: map[string]int{"a": 6},
			want:       map[string]int{"a": 6},
		},
		{
			name:   "previous number requested by another interface is given up",
			ifaces: []in{{name: "a", previous: 2}, {name: "b", request: 2}},
			want:   map[string]int{"a": 1, "b": 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := &desiredBridge{Bridge: Bridge{Name: "br0"}}
			for _, i := range tt.ifaces {
				di := &desiredIface{Interface: Interface{Name: i.name, Kind: KindNetdev}, request: i.request, previous: i.previous}
				if i.name == "br0" {
					di.Kind = KindInternal
				}
				b.ifaces = append(b.ifaces, di)
			}
			assignOFPorts(b, tt.held, tt.remembered)
			for _, di := range b.ifaces {
				if di.OFPort != tt.want[di.Name] || di.err != nil {
					t.Errorf("%s: got ofport %d (err %v), want %d", di.Name, di.OFPort, di.err, tt.want[di.Name])
				}
			}
		})
	}
}

func TestAssignOFPortsExhausted(t *testing.T) {
	b := &desiredBridge{Bridge: Bridge{Name: "br0"}}
	held := map[string]int{}
	for i := 1; i <= OFPortAutoMax; i++ {
		name := fmt.Sprint("p", i)
		held[name] = i
		b.ifaces = append(b.ifaces, &desiredIface{Interface: Interface{Name: name, Kind: KindNetdev}})
	}
	last := &desiredIface{Interface: Interface{Name: "zz", Kind: KindNetdev}}
	b.ifaces = append(b.ifaces, last)
	assignOFPorts(b, held, nil)
	if last.err != errNoOFPort {
		t.Fatalf("ofport %d err %v: want errNoOFPort once 1..%d are taken", last.OFPort, last.err, OFPortAutoMax)
	}
}

func TestParseTunnel(t *testing.T) {
	tests := []struct {
		name    string
		opts    map[string]string
		want    Tunnel
		wantErr bool
	}{
		{name: "flow based", opts: map[string]string{"remote_ip": "flow", "key": "flow"}, want: Tunnel{RemoteFlow: true, KeyFlow: true}},
		{name: "fixed remote and vni", opts: map[string]string{"remote_ip": "192.0.2.7", "key": "5001", "dst_port": "6082", "local_ip": "192.0.2.1"},
			want: Tunnel{RemoteIP: netip.MustParseAddr("192.0.2.7"), Key: 5001, DstPort: 6082, LocalIP: netip.MustParseAddr("192.0.2.1")}},
		{name: "ipv6 remote, key unset", opts: map[string]string{"remote_ip": "2001:db8::1"}, want: Tunnel{RemoteIP: netip.MustParseAddr("2001:db8::1")}},
		{name: "no remote", opts: map[string]string{"key": "flow"}, wantErr: true},
		{name: "bad remote", opts: map[string]string{"remote_ip": "node-2"}, wantErr: true},
		{name: "vni too big", opts: map[string]string{"remote_ip": "flow", "key": "16777216"}, wantErr: true},
		{name: "in_key", opts: map[string]string{"remote_ip": "flow", "in_key": "flow"}, wantErr: true},
		{name: "port zero", opts: map[string]string{"remote_ip": "flow", "dst_port": "0"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseTunnel("geneve", tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want %+v", err, tt.want)
			}
			if *got != tt.want {
				t.Fatalf("got %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func FuzzParseTunnel(f *testing.F) {
	f.Add("flow", "flow", "", "")
	f.Add("192.0.2.1", "0x10", "4789", "flow")
	f.Add("", "99999999", "65536", "::1")
	f.Fuzz(func(t *testing.T, remote, key, port, local string) {
		opts := map[string]string{"remote_ip": remote, "key": key, "dst_port": port, "local_ip": local}
		tun, err := parseTunnel("vxlan", opts)
		if err != nil {
			return
		}
		if tun.RemoteFlow == tun.RemoteIP.IsValid() {
			t.Fatalf("remote %q: flow %v and address %v", remote, tun.RemoteFlow, tun.RemoteIP)
		}
		if tun.Key >= 1<<24 {
			t.Fatalf("key %q: VNI %d does not fit 24 bits", key, tun.Key)
		}
	})
}

func TestBuildDesired(t *testing.T) {
	req := 7
	s := snapshot{
		root: &vswitch.OpenvSwitch{UUID: "r", Bridges: []string{"b1", "b2"}},
		bridges: map[string]*vswitch.Bridge{
			"b1": {UUID: "b1", Name: "br0", DatapathType: DatapathType, Ports: []string{"p1"}},
			"b2": {UUID: "b2", Name: "brk", DatapathType: "system", Ports: []string{"p2"}},
		},
		ports: map[string]*vswitch.Port{
			"p1": {UUID: "p1", Name: "veth0", Interfaces: []string{"i1"}},
			"p2": {UUID: "p2", Name: "k0", Interfaces: []string{"i2"}},
		},
		ifaces: map[string]*vswitch.Interface{
			"i1": {UUID: "i1", Name: "veth0", Type: "afxdp", OfportRequest: &req},
			"i2": {UUID: "i2", Name: "k0"},
		},
	}
	t.Run("only sluice bridges, with kinds and requests", func(t *testing.T) {
		d := buildDesired(s, DatapathType)
		if !d.complete || len(d.bridges) != 1 || d.bridges["br0"] == nil {
			t.Fatalf("got complete=%v bridges %v, want br0 only", d.complete, d.bridges)
		}
		ifs := d.bridges["br0"].ifaces
		if len(ifs) != 1 || ifs[0].Name != "veth0" || ifs[0].Kind != KindNetdev || ifs[0].request != 7 || ifs[0].Port != "veth0" {
			t.Fatalf("got %+v, want veth0 as a netdev requesting 7", ifs[0])
		}
	})
	t.Run("dangling reference makes the snapshot incomplete", func(t *testing.T) {
		s2 := s
		s2.ports = map[string]*vswitch.Port{"p2": s.ports["p2"]}
		if d := buildDesired(s2, DatapathType); d.complete {
			t.Fatal("got complete, want incomplete: bridge br0 references a port not in the snapshot")
		}
	})
}

func TestStatusInterval(t *testing.T) {
	c := &Client{opts: Options{StatusInterval: 100 * time.Millisecond}}
	tests := []struct {
		name string
		cfg  map[string]string
		want time.Duration
	}{
		{"unset", nil, 100 * time.Millisecond},
		{"database asks for 30 s", map[string]string{"stats-update-interval": "30000"}, 30 * time.Second},
		{"floor of 5 s as in ovs-vswitchd", map[string]string{"stats-update-interval": "10"}, 5 * time.Second},
		{"garbage is ignored", map[string]string{"stats-update-interval": "soon"}, 100 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.statusInterval(&vswitch.OpenvSwitch{OtherConfig: tt.cfg}); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// BenchmarkDesired1000 measures the per-event work of a reconcile that does not depend on the
// server: deriving the desired state of a bridge with 1000 interfaces and numbering them.
func BenchmarkDesired1000(b *testing.B) {
	s := snapshot{
		root:    &vswitch.OpenvSwitch{UUID: "r", Bridges: []string{"b"}},
		bridges: map[string]*vswitch.Bridge{"b": {UUID: "b", Name: "br0", DatapathType: DatapathType}},
		ports:   map[string]*vswitch.Port{},
		ifaces:  map[string]*vswitch.Interface{},
	}
	held := map[string]int{}
	for i := range 1000 {
		id := fmt.Sprint(i)
		s.bridges["b"].Ports = append(s.bridges["b"].Ports, "p"+id)
		s.ports["p"+id] = &vswitch.Port{UUID: "p" + id, Name: "veth" + id, Interfaces: []string{"i" + id}}
		s.ifaces["i"+id] = &vswitch.Interface{UUID: "i" + id, Name: "veth" + id}
		held["veth"+id] = i + 1
	}
	b.ReportAllocs()
	for b.Loop() {
		d := buildDesired(s, DatapathType)
		assignOFPorts(d.bridges["br0"], held, nil)
	}
	b.ReportMetric(1000*float64(b.N)/b.Elapsed().Seconds(), "ifaces/s")
}

func TestBridgeDatapathID(t *testing.T) {
	mac := net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}
	tests := []struct {
		name string
		cfg  map[string]string
		want uint64
	}{
		{"local port MAC", nil, 0x021122334455},
		{"16 hex digits", map[string]string{"datapath-id": "00000000000000ab"}, 0xab},
		{"0x prefix", map[string]string{"datapath-id": "0xAB"}, 0xab},
		{"15 digits are not a datapath-id", map[string]string{"datapath-id": "00000000000000a"}, 0x021122334455},
		{"zero is not a datapath-id", map[string]string{"datapath-id": "0000000000000000"}, 0x021122334455},
		{"hwaddr", map[string]string{"hwaddr": "0a:00:00:00:00:07"}, 0x0a0000000007},
		{"datapath-id beats hwaddr", map[string]string{"datapath-id": "0x7", "hwaddr": "0a:00:00:00:00:07"}, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Bridge{OtherConfig: tt.cfg}).DatapathID(mac); got != tt.want {
				t.Fatalf("got %#x, want %#x", got, tt.want)
			}
		})
	}
}
