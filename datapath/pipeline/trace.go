package pipeline

import (
	"fmt"
	"strings"

	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// Trace is what happened to one packet in the pipeline, pass by pass, like ofproto/trace.
type Trace struct {
	// Passes are the first pass and one per recirculation, in execution order.
	Passes []TracePass
	// ParseDrop is set when the frame was malformed and never reached the tables.
	ParseDrop packet.DropReason
}

// TracePass is one walk through the tables.
type TracePass struct {
	// Recirc is 0 for the first pass and the recirculation depth (1, 2, …) after a ct(table=N).
	Recirc int
	// Table is the table the pass started in.
	Table uint8
	// Key is the packet's key at the start of the pass (ct fields included).
	Key flow.Key
	// Steps are the table lookups in order, nested ones (resubmit, goto_table, group buckets)
	// with a higher Depth.
	Steps []TraceStep
	// Ops are the datapath operations the pass produced, as OVS prints "Datapath actions"
	// (set fields are named by ovs-ofctl field names).
	Ops []string
	// Drop is set when translation failed (loop) and the packet was dropped.
	Drop DropReason
}

// TraceStep is one table lookup.
type TraceStep struct {
	Table uint8
	Depth int
	// Flow is the matched flow, nil on a miss.
	Flow *flow.Flow
	// ConjID is the conjunction that led to Flow, when ViaConj.
	ConjID  uint32
	ViaConj bool
	// CtState is the ct_state the lookup saw.
	CtState conntrack.State
	// Actions are the actions executed, in ovs-ofctl syntax, with notes ("-> …", ">> …") for
	// what OVS would explain: skipped outputs, chosen buckets, ignored learns.
	Actions []string
}

// String prints the trace in the layout of ofproto/trace.
func (t *Trace) String() string {
	var sb strings.Builder
	if t.ParseDrop != packet.ReasonNone {
		fmt.Fprintf(&sb, "dropped before the tables: %s\n", t.ParseDrop)
	}
	for i, p := range t.Passes {
		if i > 0 {
			fmt.Fprintf(&sb, "\n%s\nrecirc(%d) - resume at table %d with ct_state=%s\n%s\n", rule79, p.Recirc, p.Table, conntrack.State(p.Key.Get(flow.FieldCtState)), rule79)
		}
		fmt.Fprintf(&sb, "in_port=%d\n", p.Key.Get(flow.FieldInPort))
		for _, s := range p.Steps {
			ind := strings.Repeat("    ", s.Depth)
			switch {
			case s.Flow == nil:
				fmt.Fprintf(&sb, "%s%2d. No match.\n%s    drop\n", ind, s.Table, ind)
			default:
				m := s.Flow.Match.String()
				if m != "" {
					m += ", "
				}
				fmt.Fprintf(&sb, "%s%2d. %spriority %d", ind, s.Table, m, s.Flow.Priority)
				if s.Flow.Cookie != 0 {
					fmt.Fprintf(&sb, ", cookie %#x", s.Flow.Cookie)
				}
				if s.ViaConj {
					fmt.Fprintf(&sb, " (conjunction %d)", s.ConjID)
				}
				sb.WriteByte('\n')
			}
			for _, a := range s.Actions {
				fmt.Fprintf(&sb, "%s    %s\n", ind, a)
			}
		}
		if p.Drop != DropNone {
			fmt.Fprintf(&sb, "Translation failed (%s), packet is dropped.\n", p.Drop)
		}
		ops := "drop"
		if len(p.Ops) > 0 {
			ops = strings.Join(p.Ops, ",")
		}
		fmt.Fprintf(&sb, "Datapath actions: %s\n", ops)
	}
	return sb.String()
}

const rule79 = "==============================================================================="

// TraceOptions controls Pipeline.Trace.
type TraceOptions struct {
	// CTNext, when not nil, replaces the connection tracker by ofproto/trace's model: the n-th
	// recirculation sees ct_state CTNext[n] (trk|new once they run out), ct_mark, ct_label and
	// the original tuple are zero, nothing is committed, and ct(commit,nat(range)) gives the
	// recirculated copy the range's first address and port.
	CTNext []conntrack.State
	// NoSideEffects makes learn() do nothing, as ofproto/trace without a packet.
	NoSideEffects bool
}
