package conntrack

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Entry is a snapshot of one connection, for tools.
type Entry struct {
	Zone uint16
	// Orig and Reply are the tuples a packet carries in each direction; Reply differs from
	// Orig reversed when NAT applies. For ICMP the ports are the identifier.
	Orig, Reply Tuple
	ICMPType    uint8 // the ICMP type that opened an ICMP connection
	NAT         NATKind
	Mark        uint32
	Label       Label
	// State is the protocol state: "SYN_SENT/CLOSED"-style peer states for TCP, else
	// "FIRST", "MULTIPLE" or "BIDIR" (UDP and others) / "FIRST", "REPLY" (ICMP).
	State string
	// Expires is the time left before the idle timeout.
	Expires                   time.Duration
	Age                       time.Duration
	OrigPackets, ReplyPackets uint64
	OrigBytes, ReplyBytes     uint64
}

func (k *key) dumpTuple() Tuple {
	return Tuple{Src: k.src, Dst: k.dst, SrcPort: k.sport, DstPort: k.dport, Proto: k.proto}
}

// String formats the entry like ovs-appctl dpctl/dump-conntrack.
func (e *Entry) String() string {
	var b strings.Builder
	name := map[uint8]string{ProtoTCP: "tcp", ProtoUDP: "udp", ProtoSCTP: "sctp", ProtoICMP: "icmp", ProtoICMPv6: "icmpv6"}[e.Orig.Proto]
	if name == "" {
		name = fmt.Sprint(e.Orig.Proto)
	}
	tup := func(t Tuple) string {
		if t.Proto == ProtoICMP || t.Proto == ProtoICMPv6 {
			return fmt.Sprintf("src=%s,dst=%s,id=%d", t.Src, t.Dst, t.SrcPort)
		}
		return fmt.Sprintf("src=%s,dst=%s,sport=%d,dport=%d", t.Src, t.Dst, t.SrcPort, t.DstPort)
	}
	fmt.Fprintf(&b, "%s,orig=(%s),reply=(%s)", name, tup(e.Orig), tup(e.Reply))
	if e.Zone != 0 {
		fmt.Fprintf(&b, ",zone=%d", e.Zone)
	}
	if e.Mark != 0 {
		fmt.Fprintf(&b, ",mark=%d", e.Mark)
	}
	if e.Label != (Label{}) {
		fmt.Fprintf(&b, ",labels=0x%x%016x", e.Label.Hi, e.Label.Lo)
	}
	fmt.Fprintf(&b, ",protoinfo=(state=%s)", e.State)
	return b.String()
}

// Filter selects connections for Dump and Flush. Unset parts match everything.
type Filter struct {
	Zone    uint16
	HasZone bool
	// Addr matches a connection with this address anywhere in either tuple.
	Addr netip.Addr
	// Port matches a connection with this port anywhere in either tuple (not ICMP).
	Port uint16
	// Proto matches the IP protocol.
	Proto uint8
}

func (f *Filter) match(c *conn) bool {
	k0, k1 := &c.keys[0], &c.keys[1]
	if f.HasZone && k0.zone != f.Zone {
		return false
	}
	if f.Proto != 0 && k0.proto != f.Proto {
		return false
	}
	if f.Addr.IsValid() && k0.src != f.Addr && k0.dst != f.Addr && k1.src != f.Addr && k1.dst != f.Addr {
		return false
	}
	if f.Port != 0 && (isICMP(k0.proto) ||
		(k0.sport != f.Port && k0.dport != f.Port && k1.sport != f.Port && k1.dport != f.Port)) {
		return false
	}
	return true
}

var otherStateNames = [...]string{"FIRST", "MULTIPLE", "BIDIR"}

func (t *Table) entry(c *conn, now int64) Entry {
	e := Entry{Zone: c.keys[0].zone, Orig: c.keys[0].dumpTuple(), Reply: c.keys[1].dumpTuple(), NAT: c.nat}
	if isICMP(c.keys[0].proto) {
		e.ICMPType = c.keys[0].stype
	}
	c.mu.Lock()
	e.Mark, e.Label = c.mark, c.label
	switch {
	case c.keys[0].proto == ProtoTCP:
		e.State = tcpStateNames[c.tcp[0].state] + "/" + tcpStateNames[c.tcp[1].state]
	case isICMP(c.keys[0].proto):
		e.State = [...]string{"FIRST", "REPLY", "REPLY"}[c.other]
	default:
		e.State = otherStateNames[c.other]
	}
	e.OrigPackets, e.ReplyPackets = c.packets[0], c.packets[1]
	e.OrigBytes, e.ReplyBytes = c.bytes[0], c.bytes[1]
	e.Age = time.Duration(now - c.created)
	c.mu.Unlock()
	e.Expires = time.Duration(c.expires.Load() - now)
	return e
}

// collect returns the live connections f selects; each appears once.
func (t *Table) collect(f *Filter, now int64) []*conn {
	var out []*conn
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.RLock()
		for _, e := range s.m {
			// Visit a connection through its original key only (a connection to itself
			// has no other).
			if e.reply || !live(e.c, now) || !f.match(e.c) {
				continue
			}
			out = append(out, e.c)
		}
		s.mu.RUnlock()
	}
	return out
}

// Dump calls fn with every live connection f selects, until fn returns false. The table may
// change while Dump runs; fn runs without table locks held.
func (t *Table) Dump(f Filter, fn func(Entry) bool) {
	now := t.now()
	for _, c := range t.collect(&f, now) {
		if !fn(t.entry(c, now)) {
			return
		}
	}
}

// Flush removes every connection f selects and returns how many it removed. Flushing the
// UDP entries of a Service endpoint that went away is Flush(Filter{Addr: ep, Proto: ProtoUDP}).
func (t *Table) Flush(f Filter) int {
	now := t.now()
	cs := t.collect(&f, now)
	n := 0
	t.mu.Lock()
	for _, c := range cs {
		if t.removeLocked(c) {
			n++
		}
	}
	t.mu.Unlock()
	t.stats[CounterFlushed].Add(uint64(n))
	return n
}
