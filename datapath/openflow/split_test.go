package openflow

import (
	"bytes"
	"errors"
	"reflect"
	"testing"

	"github.com/sluicenet/sluice/datapath/flow"
)

// TestAppendSplit dumps 3000 flows (far more than 64 KiB) and checks that the parts are valid
// messages with the more flag on all but the last and that together they hold every flow.
func TestAppendSplit(t *testing.T) {
	reply := &FlowDescReply{}
	for i := range 3000 {
		var m flow.Match
		m.Set(flow.FieldInPort, uint64(i), 0xffffffff)
		m.Set(flow.FieldReg0, uint64(i), 0xffffffff)
		reply.Flows = append(reply.Flows, FlowDesc{Priority: uint16(i), Match: m, Stats: Stats{Has: 1 << StatPacketCount, PacketCount: uint64(i)},
			Instructions: []Instruction{&ApplyActions{Actions: []Action{&Output{Port: uint32(i)}}}}})
	}
	if _, err := Marshal(1, reply); !errors.Is(err, ErrTooLong) {
		t.Fatalf("Marshal of the whole dump: err = %v, want ErrTooLong", err)
	}
	b, err := AppendSplit(nil, 9, reply)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(b))
	var got []FlowDesc
	parts := 0
	for {
		h, m, _, err := r.Read()
		if err != nil {
			break
		}
		parts++
		fd := m.(*FlowDescReply)
		if h.XID != 9 {
			t.Errorf("part %d xid %d, want 9", parts, h.XID)
		}
		got = append(got, fd.Flows...)
		if more := fd.Flags&MultipartMore != 0; more != (len(got) < len(reply.Flows)) {
			t.Errorf("part %d (%d flows so far): more = %v", parts, len(got), more)
		}
	}
	if parts < 2 || !reflect.DeepEqual(got, reply.Flows) {
		t.Errorf("%d parts carried %d flows, want all %d in several parts", parts, len(got), len(reply.Flows))
	}
	small, err := AppendSplit(nil, 9, &TableStatsReply{Tables: []TableStats{{TableID: 1}}})
	if err != nil || !bytes.Equal(small, mustMarshal(t, 9, &TableStatsReply{Tables: []TableStats{{TableID: 1}}})) {
		t.Errorf("a reply that fits is not sent as one message (%v)", err)
	}
}
