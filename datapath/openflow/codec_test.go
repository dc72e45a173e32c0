package openflow

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// ofpPrint returns OVS's decoding of an encoded message, or skips the check when ovs-ofctl is
// not installed.
func ofpPrint(t *testing.T, raw []byte) (string, bool) {
	t.Helper()
	if _, err := exec.LookPath("ovs-ofctl"); err != nil {
		return "", false
	}
	out, err := exec.Command("ovs-ofctl", "ofp-print", hex.EncodeToString(raw)).CombinedOutput()
	if err != nil {
		t.Fatalf("ovs-ofctl ofp-print: %v\n%s", err, out)
	}
	return string(out), true
}

func mustMatch(t *testing.T, set func(m *flow.Match)) flow.Match {
	t.Helper()
	var m flow.Match
	set(&m)
	return m
}

// roundTripCases are messages the switch side sends (which ovs-ofctl never does), built in Go,
// with what OVS's own decoder must print for them.
func roundTripCases(t *testing.T) []struct {
	name string
	msg  Message
	ovs  []string
} {
	ipMatch := mustMatch(t, func(m *flow.Match) {
		m.Set(flow.FieldInPort, 3, 0xffffffff)
		m.Set(flow.FieldEthType, 0x0800, 0xffff)
		m.Set(flow.FieldNwProto, 6, 0xff)
		m.Set(flow.FieldTpDst, 443, 0xffff)
		m.Set(flow.FieldReg0, 0x10, 0xffffffff)
	})
	meta := mustMatch(t, func(m *flow.Match) {
		m.Set(flow.FieldInPort, 1, 0xffffffff)
		m.Set(flow.FieldReg1, 7, 0xffffffff)
		m.Set(flow.FieldCtState, 0x21, 0xffffffff)
		m.Set(flow.FieldTunID, 0x99, ^uint64(0))
	})
	eth := &PortEthernet{Curr: 0x820, Advertised: 0, Supported: 0, Peer: 0, CurrSpeed: 10000000, MaxSpeed: 0}
	return []struct {
		name string
		msg  Message
		ovs  []string
	}{
		{"hello", NewHello(), []string{"OFPT_HELLO (OF1.5)", "version bitmap: 0x06"}},
		{"error", &Error{ErrType: ErrTypeBadAction, Code: 4, Data: mustMarshal(t, 1, &BarrierRequest{})}, []string{"OFPT_ERROR", "OFPBAC_BAD_OUT_PORT"}},
		{"echo_request", &EchoRequest{Data: []byte("ping")}, []string{"OFPT_ECHO_REQUEST (OF1.5)"}},
		{"echo_reply", &EchoReply{Data: []byte("ping")}, []string{"OFPT_ECHO_REPLY (OF1.5)"}},
		{"features_request", &FeaturesRequest{}, []string{"OFPT_FEATURES_REQUEST (OF1.5)"}},
		{"features_reply", &FeaturesReply{DatapathID: 0xabcdef, NBuffers: 0, NTables: 254, Capabilities: CapFlowStats | CapTableStats | CapPortStats | CapGroupStats}, []string{"OFPT_FEATURES_REPLY (OF1.5)", "dpid:0000000000abcdef", "n_tables:254", "FLOW_STATS TABLE_STATS PORT_STATS GROUP_STATS"}},
		{"get_config_request", &GetConfigRequest{}, []string{"OFPT_GET_CONFIG_REQUEST (OF1.5)"}},
		{"get_config_reply", &GetConfigReply{SwitchConfig{Flags: ConfigFragDrop, MissSendLen: 128}}, []string{"OFPT_GET_CONFIG_REPLY (OF1.5)", "frags=drop miss_send_len=128"}},
		{"set_config", &SetConfig{SwitchConfig{Flags: ConfigFragNormal, MissSendLen: 0xffff}}, []string{"OFPT_SET_CONFIG (OF1.5)", "frags=normal miss_send_len=65535"}},
		{"barrier_request", &BarrierRequest{}, []string{"OFPT_BARRIER_REQUEST (OF1.5)"}},
		{"barrier_reply", &BarrierReply{}, []string{"OFPT_BARRIER_REPLY (OF1.5)"}},
		{"role_request", &RoleRequest{Role{Role: RoleMaster, GenerationID: 5}}, []string{"OFPT_ROLE_REQUEST (OF1.5)", "role=primary generation_id=5"}},
		{"role_reply", &RoleReply{Role{Role: RoleSlave, GenerationID: 6}}, []string{"OFPT_ROLE_REPLY (OF1.5)", "role=secondary generation_id=6"}},
		{"packet_in", &PacketIn{BufferID: NoBuffer, TotalLen: 4, Reason: ReasonAction, TableID: 7, Cookie: 0x55, Match: meta, Data: []byte{1, 2, 3, 4}},
			[]string{"OFPT_PACKET_IN (OF1.5)", "total_len=4", "reg1=0x7", "in_port=1", "tun_id=0x99", "table_id=7", "cookie=0x55", "(via action)", "data_len=4 (unbuffered)"}},
		{"packet_out", &PacketOut{BufferID: NoBuffer, Match: mustMatch(t, func(m *flow.Match) { m.Set(flow.FieldInPort, uint64(PortController), 0xffffffff) }), Actions: []Action{&Output{Port: 2, MaxLen: 0}}, Data: make([]byte, 60)},
			[]string{"OFPT_PACKET_OUT (OF1.5)", "in_port=CONTROLLER", "actions=output:2"}},
		{"flow_removed", &FlowRemoved{TableID: 2, Reason: RemovedIdleTimeout, Priority: 100, IdleTimeout: 10, Cookie: 0x7, Match: ipMatch,
			Stats: Stats{Has: 1<<StatDuration | 1<<StatPacketCount | 1<<StatByteCount, DurationSec: 3, DurationNSec: 5000, PacketCount: 10, ByteCount: 1000}},
			[]string{"OFPT_FLOW_REMOVED (OF1.5)", "priority=100", "tcp,reg0=0x10,in_port=3,tp_dst=443", "reason=idle", "table_id=2", "cookie:0x7", "duration3.000005s", "idle10", "pkts10", "bytes1000"}},
		{"port_status", &PortStatus{Reason: PortAdded, Port: Port{PortNo: 5, HWAddr: [6]byte{0, 0x11, 0x22, 0x33, 0x44, 0x55}, Name: "veth5", State: PortStateLive, Ethernet: eth}},
			[]string{"OFPT_PORT_STATUS (OF1.5)", "ADD: 5(veth5): addr:00:11:22:33:44:55", "state:      LIVE", "1GB-FD COPPER", "speed: 10000 Mbps now"}},
		{"flow_mod", &FlowMod{Cookie: 1, TableID: 3, Command: FlowAdd, Priority: 10, BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny, Match: ipMatch,
			Instructions: []Instruction{&ApplyActions{Actions: []Action{&Output{Port: PortNormal, MaxLen: 0}}}}},
			[]string{"OFPT_FLOW_MOD (OF1.5)", "ADD table:3 priority=10,tcp,reg0=0x10,in_port=3,tp_dst=443 cookie:0x1 actions=NORMAL"}},
		{"group_mod", &GroupMod{Command: GroupAdd, GroupType: GroupTypeSelect, GroupID: 9, CommandBucketID: BucketAll, Buckets: []Bucket{{BucketID: 0, Actions: []Action{&Output{Port: 1}}, HasWeight: true, Weight: 100}}},
			[]string{"OFPT_GROUP_MOD (OF1.5)", "ADD group_id=9,type=select,bucket=bucket_id:0,weight:100,actions=output:1"}},
		{"meter_mod", &MeterMod{Command: MeterAdd, Flags: MeterFlagKbps, MeterID: 4, Bands: []Band{{Type: BandDrop, Rate: 500}}},
			[]string{"OFPT_METER_MOD (OF1.5)", "ADD meter=4 kbps bands=", "type=drop rate=500"}},
		{"bundle_control", &BundleControl{BundleID: 3, CtlType: BundleCommitReply, Flags: BundleAtomic}, []string{"OFPT_BUNDLE_CONTROL (OF1.5)", "bundle_id=0x3 type=COMMIT_REPLY flags=atomic"}},
		{"bundle_add", &BundleAdd{BundleID: 3, Flags: BundleAtomic, XID: 0x42, Message: &FlowMod{Command: FlowDelete, TableID: TableAll, BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny}},
			[]string{"OFPT_BUNDLE_ADD_MESSAGE (OF1.5)", "bundle_id=0x3 flags=atomic", "DEL"}},
		{"desc_reply", &DescReply{Manufacturer: "Sluice", Hardware: "AF_XDP", Software: "0.1", SerialNum: "none", Datapath: "br-int"},
			[]string{"OFPST_DESC reply (OF1.5)", "Manufacturer: Sluice", "Hardware: AF_XDP", "Software: 0.1", "Serial Num: none", "DP Description: br-int"}},
		{"flow_desc_reply", &FlowDescReply{Flows: []FlowDesc{{TableID: 1, Priority: 7, Cookie: 0x9, Match: ipMatch, Stats: Stats{Has: 1<<StatDuration | 1<<StatIdleTime | 1<<StatPacketCount | 1<<StatByteCount, DurationSec: 1, PacketCount: 2, ByteCount: 3, IdleSec: 4},
			Instructions: []Instruction{&ApplyActions{Actions: []Action{&Resubmit{InPort: ResubmitInPort, Table: 4}}}}}}},
			[]string{"OFPST_FLOW reply (OF1.5)", "cookie=0x9, duration=1s, table=1, n_packets=2, n_bytes=3, idle_age=4, priority=7,tcp,reg0=0x10,in_port=3,tp_dst=443 actions=resubmit(,4)"}},
		{"aggregate_reply", &AggregateReply{Stats: Stats{Has: 1<<StatPacketCount | 1<<StatByteCount | 1<<StatFlowCount, PacketCount: 5, ByteCount: 6, FlowCount: 7}},
			[]string{"OFPST_AGGREGATE reply (OF1.5)", "packet_count=5 byte_count=6 flow_count=7"}},
		{"table_stats_reply", &TableStatsReply{Tables: []TableStats{{TableID: 0, ActiveCount: 3, LookupCount: 10, MatchedCount: 8}}},
			[]string{"OFPST_TABLE reply (OF1.5)", "active=3, lookup=10, matched=8"}},
		{"port_stats_reply", &PortStatsReply{Ports: []PortStats{{PortNo: 1, DurationSec: 2, RxPackets: 3, TxPackets: 4, RxBytes: 5, TxBytes: 6, Ethernet: &PortStatsEthernet{}}}},
			[]string{"OFPST_PORT reply (OF1.5)", "port  1: rx pkts=3, bytes=5", "tx pkts=4, bytes=6", "duration=2s"}},
		{"port_desc_reply", &PortDescReply{Ports: []Port{{PortNo: PortLocal, Name: "br0", Config: PortConfigDown, State: PortStateLinkDown, Ethernet: eth}}},
			[]string{"OFPST_PORT_DESC reply (OF1.5)", "LOCAL(br0)", "config:     PORT_DOWN", "state:      LINK_DOWN"}},
		{"group_stats_reply", &GroupStatsReply{Groups: []GroupStats{{GroupID: 9, RefCount: 1, PacketCount: 2, ByteCount: 3, DurationSec: 4, Buckets: []BucketCounter{{5, 6}}}}},
			[]string{"OFPST_GROUP reply (OF1.5)", "group_id=9,duration=4s,ref_count=1,packet_count=2,byte_count=3,bucket0:packet_count=5,byte_count=6"}},
		{"group_desc_reply", &GroupDescReply{Groups: []GroupDesc{{GroupType: GroupTypeAll, GroupID: 2, Buckets: []Bucket{{BucketID: 1, Actions: []Action{&Output{Port: 1}}}}}}},
			[]string{"OFPST_GROUP_DESC reply (OF1.5)", "group_id=2,type=all,bucket=bucket_id:1,actions=output:1"}},
		{"meter_stats_reply", &MeterStatsReply{Meters: []MeterStats{{MeterID: 4, FlowCount: 1, PacketInCount: 2, ByteInCount: 3, DurationSec: 5, Bands: []BucketCounter{{7, 8}}}}},
			[]string{"OFPST_METER reply (OF1.5)", "meter:4 flow_count:1 packet_in_count:2 byte_in_count:3 duration:5s bands:", "0: packet_count:7 byte_count:8"}},
		{"flow_desc_request", &FlowDescRequest{FlowFilter: NewFlowFilter()}, []string{"OFPST_FLOW request (OF1.5)"}},
		{"port_stats_request", &PortStatsRequest{PortNo: PortAny}, []string{"OFPST_PORT request (OF1.5)", "port_no=ANY"}},
		{"meter_stats_request", &MeterStatsRequest{MeterID: MeterAll}, []string{"OFPST_METER request (OF1.5)", "meter=all"}},
		{"packet_in2", &PacketIn2{Data: []byte{1, 2, 3}, TableID: 4, Cookie: 9, Reason: ReasonAction, Metadata: meta, UserData: []byte("hi")},
			[]string{"NXT_PACKET_IN2 (OF1.5)", "cookie=0x9", "userdata=68.69", "table_id=4", "in_port=1"}},
		{"nx_reg_actions", &FlowMod{Command: FlowAdd, BufferID: NoBuffer, OutPort: PortAny, OutGroup: GroupAny, Instructions: []Instruction{&ApplyActions{Actions: []Action{
			&RegLoad{Dst: OXMID{Class: ClassNXM1, Field: 3}, Ofs: 4, NBits: 8, Value: 0x5a},
			&RegLoad2{Field: OXMID{Class: ClassNXM1, Field: 33}, Value: []byte{0, 0, 0, 1}, Mask: []byte{0, 0, 0, 1}},
			&RegMove{NBits: 16, SrcOfs: 0, DstOfs: 16, Src: OXMID{Class: ClassNXM0, Field: 0}, Dst: OXMID{Class: ClassNXM1, Field: 0}},
		}}}}, []string{"OFPT_FLOW_MOD (OF1.3)", "load:0x5a->NXM_NX_REG3[4..11]", "set_field:0x1/0x1->pkt_mark", "move:NXM_OF_IN_PORT[]->NXM_NX_REG0[16..31]"}},
		{"table_features_reply", &TableFeaturesReply{Tables: []TableFeatures{{TableID: 0, Name: "classifier", MetadataMatch: ^uint64(0), MetadataWrite: ^uint64(0), MaxEntries: 1000000}}},
			[]string{"OFPST_TABLE_FEATURES reply (OF1.5)", "table 0 (\"classifier\")", "metadata: match=0xffffffffffffffff write=0xffffffffffffffff", "max_entries=1000000"}},
		{"meter_config_reply", &MeterConfigReply{Meters: []MeterConfig{{Flags: MeterFlagKbps, MeterID: 3, Bands: []Band{{Type: BandDrop, Rate: 10}}}}},
			[]string{"OFPST_METER_CONFIG reply (OF1.5)", "meter=3 kbps bands=", "type=drop rate=10"}},
		{"port_mod", &PortMod{PortNo: 1, HWAddr: [6]byte{0, 1, 2, 3, 4, 5}, Config: PortConfigDown, Mask: PortConfigDown},
			[]string{"OFPT_PORT_MOD (OF1.5)", "port: 1: addr:00:01:02:03:04:05", "config: PORT_DOWN", "mask:   PORT_DOWN"}},
		{"set_packet_in_format", &SetPacketInFormat{Format: PacketInFormatNXT2}, []string{"NXT_SET_PACKET_IN_FORMAT (OF1.5)", "format=nxt_packet_in2"}},
	}
}

// TestMessageRoundTrip encodes each message, decodes it back to an equal value, and has OVS's
// own decoder (ovs-ofctl ofp-print) print what we mean.
func TestMessageRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := Marshal(0x42, tc.msg)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			h, got, err := Unmarshal(raw)
			if err != nil {
				t.Fatalf("Unmarshal: %v (%x)", err, raw)
			}
			if h.XID != 0x42 || h.Type != tc.msg.Type() || int(h.Length) != len(raw) {
				t.Errorf("header = %+v, want xid 0x42 type %v length %d", h, tc.msg.Type(), len(raw))
			}
			if !reflect.DeepEqual(got, tc.msg) {
				t.Errorf("decoded\n got %#v\nwant %#v", got, tc.msg)
			}
			again, err := Marshal(0x42, got)
			if err != nil || !bytes.Equal(again, raw) {
				t.Errorf("re-encoding differs (%v)\n got %x\nwant %x", err, again, raw)
			}
			if strings.HasPrefix(tc.name, "nx_reg") {
				// OVS accepts the Nicira register actions only up to OpenFlow 1.4; the
				// flow mod layout is the same in 1.3, so show it OVS as 1.3.
				raw = append([]byte{4}, raw[1:]...)
			}
			out, ok := ofpPrint(t, raw)
			if !ok {
				return
			}
			if strings.Contains(out, "***") {
				t.Errorf("OVS could not decode it:\n%s", out)
			}
			for _, want := range tc.ovs {
				if !strings.Contains(out, want) {
					t.Errorf("ofp-print lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

func TestErrorIs(t *testing.T) {
	_, m, err := Unmarshal(mustMarshal(t, 9, ErrBadMatchPrereq.WithData([]byte{1, 2, 3})))
	if err != nil {
		t.Fatal(err)
	}
	e := m.(*Error)
	if !errors.Is(e, ErrBadMatchPrereq) || errors.Is(e, ErrBadMatchField) {
		t.Errorf("errors.Is(%v): got wrong answer", e)
	}
	if got, want := e.Name(), "OFPBMC_BAD_PREREQ"; got != want {
		t.Errorf("Name() = %q, want %q", got, want)
	}
	nx := &Error{ErrType: ErrTypeExperimenter, Code: 2, Experimenter: NiciraID}
	if got, want := nx.Name(), "NXBRC_NXM_INVALID"; got != want {
		t.Errorf("Nicira error Name() = %q, want %q", got, want)
	}
}

func mustMarshal(t *testing.T, xid uint32, m Message) []byte {
	t.Helper()
	b, err := Marshal(xid, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestErrorFor checks the OpenFlow error a switch answers each kind of undecodable request with.
func TestErrorFor(t *testing.T) {
	fm := mustMarshal(t, 7, NewFlowMod(FlowAdd))
	withMatch := func(oxms ...byte) []byte {
		// Replace the empty match (00 01 00 04 + 4 pad) by one carrying oxms.
		b := append([]byte(nil), fm[:48]...)
		m := append([]byte{0, 1, 0, byte(4 + len(oxms))}, oxms...)
		for len(m)%8 != 0 {
			m = append(m, 0)
		}
		b = append(b, m...)
		be.PutUint16(b[2:], uint16(len(b)))
		return b
	}
	withActions := func(acts ...byte) []byte { return flowModWithActions(t, acts...) }
	for _, tc := range []struct {
		name string
		raw  []byte
		want Error
	}{
		{"unknown field", withMatch(0x80, 0, 0xfe, 4, 0, 0, 0, 1), ErrBadMatchField},
		{"duplicate field", withMatch(0x80, 0, 0, 4, 0, 0, 0, 1, 0x80, 0, 0, 4, 0, 0, 0, 2), ErrBadMatchDupField},
		{"mask on in_port", withMatch(0x80, 0, 1, 8, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff), Error{ErrType: ErrTypeBadMatch, Code: 8}},
		{"action length", withActions(0, 0, 0, 12, 0, 0, 0, 1), ErrBadActionLen},
		{"set_field of unknown field", withActions(0, 25, 0, 16, 0x80, 0, 0xfe, 4, 0, 0, 0, 1, 0, 0, 0, 0), Error{ErrType: ErrTypeBadAction, Code: 13}},
		{"wrong version", append([]byte{4}, fm[1:]...), ErrBadRequestVersion},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Unmarshal(tc.raw)
			if err == nil {
				t.Fatalf("Unmarshal(%x) succeeded", tc.raw)
			}
			got := ErrorFor(err, tc.raw)
			if !errors.Is(got, tc.want) {
				t.Errorf("ErrorFor(%v) = %s, want %s", err, got.Name(), tc.want.Name())
			}
			if !bytes.Equal(got.Data, tc.raw[:min(64, len(tc.raw))]) {
				t.Errorf("error data = %x, want the request's first 64 bytes", got.Data)
			}
		})
	}
}

// flowModWithActions returns an encoded empty add flow mod with one apply_actions instruction
// holding the raw action bytes acts.
func flowModWithActions(t testing.TB, acts ...byte) []byte {
	t.Helper()
	b, err := Marshal(1, NewFlowMod(FlowAdd))
	if err != nil {
		t.Fatal(err)
	}
	b = append(b, 0, 4, 0, byte(8+len(acts)), 0, 0, 0, 0)
	b = append(b, acts...)
	be.PutUint16(b[2:], uint16(len(b)))
	return b
}
