package ovstest

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// EventKind says what a verdict Event is.
type EventKind uint8

// The kinds of verdict events.
const (
	// EventOutput is a packet leaving on Port.
	EventOutput EventKind = iota + 1
	// EventController is a packet sent to the controller; Text is "reason=N" (OpenFlow's
	// packet-in reason: 0 no_match, 1 action, 2 invalid_ttl).
	EventController
	// EventCT is a ct() datapath action; Text is its argument list as OVS prints it.
	EventCT
	// EventError is a failed translation (the packet is dropped); Text is OVS's reason.
	EventError
	// EventOther is any other datapath action the verdict does not model (hash, meter, …);
	// Text is the action as printed.
	EventOther
)

// Event is one thing the datapath does with the packet.
type Event struct {
	Kind EventKind
	// Port is the OpenFlow output port (EventOutput).
	Port uint32
	// Mods are the header fields that differ from the traced input at the time of an output or
	// controller event, as sorted "field=value" strings with ovs-ofctl field names (dl_dst,
	// nw_ttl, tp_src, …; nw_tos is the whole ToS byte) and canonical values; "vlan=…" gives the
	// whole VLAN stack (outermost first, "none" when untagged) when it changed.
	Mods []string
	Text string
}

// String formats the event as "output:2[dl_dst=…,nw_ttl=63]", "ct(commit,zone=5)",
// "controller(reason=1)[…]", "error(Recursion too deep)" or the other action's text.
func (e Event) String() string {
	var s string
	switch e.Kind {
	case EventOutput:
		s = "output:" + strconv.FormatUint(uint64(e.Port), 10)
	case EventController:
		s = "controller(" + e.Text + ")"
	case EventCT:
		s = "ct(" + e.Text + ")"
	case EventError:
		s = "error(" + e.Text + ")"
	default:
		s = e.Text
	}
	if len(e.Mods) > 0 {
		s += "[" + strings.Join(e.Mods, ",") + "]"
	}
	return s
}

// Verdict is what the datapath would do with the packet: its events in datapath order, with
// each recirculation's events inlined where the recirc() action stands.
type Verdict struct {
	Events []Event
}

// Drop reports whether the packet goes nowhere: no output and no controller event.
func (v *Verdict) Drop() bool {
	for _, e := range v.Events {
		if e.Kind == EventOutput || e.Kind == EventController {
			return false
		}
	}
	return true
}

// Canonical returns the events as a sorted, "; "-joined string ("drop" when there are none):
// the form two verdicts are compared in, because the order in which a datapath emits a packet
// on different ports (and the recirculated copy relative to the original) is not observable.
func (v *Verdict) Canonical() string {
	if len(v.Events) == 0 {
		return "drop"
	}
	ss := make([]string, len(v.Events))
	for i, e := range v.Events {
		ss[i] = e.String()
	}
	slices.Sort(ss)
	return strings.Join(ss, "; ")
}

// Verdict flattens the trace's passes into one Verdict, starting from the first pass.
func (tr *Trace) Verdict() (*Verdict, error) {
	if len(tr.Passes) == 0 {
		return nil, fmt.Errorf("verdict: empty trace")
	}
	first := &tr.Passes[0]
	h, err := newHeaders(first.Flow)
	if err != nil {
		return nil, err
	}
	v := &Verdict{}
	budget := maxEval
	if err := tr.eval(v, first, h, &budget); err != nil {
		return nil, err
	}
	return v, nil
}

// maxEval bounds how many passes and clones one Verdict evaluates, so a trace whose
// recirculations refer to each other cannot make it loop or explode.
const maxEval = 256

// eval appends the events of one pass's datapath actions to v, starting from header state h.
func (tr *Trace) eval(v *Verdict, p *Pass, h *headers, budget *int) error {
	if *budget--; *budget < 0 {
		return fmt.Errorf("verdict: more than %d recirculations and clones", maxEval)
	}
	if p.Error != "" {
		v.Events = append(v.Events, Event{Kind: EventError, Text: p.Error})
	}
	acts, err := splitTop(p.DatapathActions)
	if err != nil {
		return fmt.Errorf("verdict: datapath actions %q: %w", p.DatapathActions, err)
	}
	return tr.evalActions(v, acts, h, budget)
}

func (tr *Trace) evalActions(v *Verdict, acts []string, h *headers, budget *int) error {
	for _, a := range acts {
		name, args, hasArgs := cutCall(a)
		switch {
		case a == "drop" || a == "":
		case !hasArgs && isDigits(a):
			n, _ := strconv.ParseUint(a, 10, 32)
			v.Events = append(v.Events, Event{Kind: EventOutput, Port: tr.ofPort(uint32(n)), Mods: h.mods()})
		case name == "set":
			if err := h.apply(args); err != nil {
				return fmt.Errorf("verdict: %s: %w", a, err)
			}
		case name == "push_vlan":
			h.vlan = append([]string{canonicalVLAN(args)}, h.vlan...)
		case name == "pop_vlan":
			if len(h.vlan) > 0 {
				h.vlan = h.vlan[1:]
			}
		case name == "ct":
			v.Events = append(v.Events, Event{Kind: EventCT, Text: args})
		case name == "recirc":
			id, err := strconv.ParseUint(args, 0, 32)
			if err != nil {
				return fmt.Errorf("verdict: %s: %w", a, err)
			}
			p := tr.Pass(uint32(id))
			if p == nil {
				v.Events = append(v.Events, Event{Kind: EventOther, Text: a + " (not traced)"})
				continue
			}
			// The recirculated pass starts from the flow OVS printed for it, which includes
			// the NAT ofproto/trace simulates (the range's first address and port).
			rh := h.clone()
			rh.resume(p.Flow)
			if err := tr.eval(v, p, rh, budget); err != nil {
				return err
			}
		case name == "clone":
			inner, err := splitTop(args)
			if err != nil {
				return fmt.Errorf("verdict: %s: %w", a, err)
			}
			if *budget--; *budget < 0 {
				return fmt.Errorf("verdict: more than %d recirculations and clones", maxEval)
			}
			if err := tr.evalActions(v, inner, h.clone(), budget); err != nil {
				return err
			}
		case name == "userspace" && strings.Contains(args, "controller("):
			_, ctl, _ := strings.Cut(args, "controller(")
			reason := "reason=?"
			for _, kv := range strings.Split(ctl, ",") {
				if strings.HasPrefix(kv, "reason=") {
					reason = kv
				}
			}
			v.Events = append(v.Events, Event{Kind: EventController, Text: reason, Mods: h.mods()})
		default:
			v.Events = append(v.Events, Event{Kind: EventOther, Text: a})
		}
	}
	return nil
}

func (tr *Trace) ofPort(odp uint32) uint32 {
	if of, ok := tr.odpToOF[odp]; ok {
		return of
	}
	return odp
}

// headers tracks the header fields datapath set() actions have changed, against the input flow.
type headers struct {
	initial map[string]string
	cur     map[string]string
	vlan0   []string
	vlan    []string
}

// odpFields maps a datapath key (set(ipv4(ttl=…))) and its attribute to the ovs-ofctl field.
var odpFields = map[string]map[string]string{
	"eth":    {"src": "dl_src", "dst": "dl_dst"},
	"ipv4":   {"src": "nw_src", "dst": "nw_dst", "proto": "nw_proto", "tos": "nw_tos", "ttl": "nw_ttl", "frag": "nw_frag"},
	"ipv6":   {"src": "ipv6_src", "dst": "ipv6_dst", "label": "ipv6_label", "proto": "nw_proto", "tclass": "nw_tos", "hlimit": "nw_ttl", "frag": "nw_frag"},
	"tcp":    {"src": "tp_src", "dst": "tp_dst"},
	"udp":    {"src": "tp_src", "dst": "tp_dst"},
	"sctp":   {"src": "tp_src", "dst": "tp_dst"},
	"icmp":   {"type": "icmp_type", "code": "icmp_code"},
	"icmpv6": {"type": "icmp_type", "code": "icmp_code"},
	"arp":    {"sip": "arp_spa", "tip": "arp_tpa", "op": "arp_op", "sha": "arp_sha", "tha": "arp_tha"},
	"nd":     {"target": "nd_target", "sll": "nd_sll", "tll": "nd_tll"},
	"tunnel": {"tun_id": "tun_id", "src": "tun_src", "dst": "tun_dst"},
}

// newHeaders reads the input field values from a trace's "Flow:" line.
func newHeaders(flowLine string) (*headers, error) {
	h := &headers{initial: map[string]string{}, cur: map[string]string{}}
	kv := map[string]string{}
	for _, f := range strings.Split(flowLine, ",") {
		k, val, ok := strings.Cut(f, "=")
		if ok {
			kv[k] = val
		}
	}
	for k, val := range kv {
		switch k {
		case "nw_tos", "nw_ecn", "vlan_tci", "dl_vlan", "dl_vlan_pcp", "vlan_tci1":
			continue
		}
		h.initial[k] = canonicalValue(val)
	}
	tos, _ := strconv.ParseUint(kv["nw_tos"], 0, 8)
	ecn, _ := strconv.ParseUint(kv["nw_ecn"], 0, 8)
	h.initial["nw_tos"] = strconv.FormatUint(tos|ecn, 10)
	if vid, ok := kv["dl_vlan"]; ok {
		h.vlan0 = []string{"vid=" + canonicalValue(vid) + ",pcp=" + canonicalValue(kv["dl_vlan_pcp"])}
	}
	h.vlan = slices.Clone(h.vlan0)
	return h, nil
}

// resume takes the header values of a recirculated pass's "Flow:" line as current.
func (h *headers) resume(flowLine string) {
	r, err := newHeaders(flowLine)
	if err != nil {
		return
	}
	for k, v := range r.initial {
		if _, ok := h.initial[k]; ok {
			h.cur[k] = v
		}
	}
	h.vlan = r.vlan0
}

func (h *headers) clone() *headers {
	c := *h
	c.cur = make(map[string]string, len(h.cur))
	for k, v := range h.cur {
		c.cur[k] = v
	}
	c.vlan = slices.Clone(h.vlan)
	return &c
}

// apply executes one set(key(attr=value[/mask],…)) argument.
func (h *headers) apply(arg string) error {
	key, attrs, ok := cutCall(arg)
	if !ok {
		// set(skb_mark(0x1)) and friends have a single value.
		return fmt.Errorf("unparsed set argument %q", arg)
	}
	if key == "skb_mark" {
		return h.set("pkt_mark", attrs)
	}
	names, ok := odpFields[key]
	if !ok {
		h.cur["?"+key] = attrs // unknown: still shows up as a modification
		return nil
	}
	parts, err := splitTop(attrs)
	if err != nil {
		return err
	}
	for _, p := range parts {
		a, val, ok := strings.Cut(p, "=")
		if !ok {
			if key == "tunnel" {
				continue // flags(df|csum|key)
			}
			return fmt.Errorf("attribute %q without value", p)
		}
		field, ok := names[a]
		if !ok {
			if key == "tunnel" {
				continue // ttl, tos, flags, tp_dst: how the tunnel port encapsulates
			}
			field = key + "." + a
		}
		if err := h.set(field, val); err != nil {
			return err
		}
	}
	return nil
}

// set stores value or value/mask into field, masking into the current value.
func (h *headers) set(field, val string) error {
	v, m, masked := strings.Cut(val, "/")
	if !masked {
		h.cur[field] = canonicalValue(v)
		return nil
	}
	old, ok := h.cur[field]
	if !ok {
		old = h.initial[field]
	}
	ob, kind := valueBytes(old)
	vb, kv := valueBytes(v)
	mb, km := valueBytes(m)
	if kind == "" || kv != km || (kind != kv && old != "") || len(ob) != len(vb) {
		// Fall back to the literal text when the values do not line up.
		h.cur[field] = canonicalValue(v) + "/" + canonicalValue(m)
		return nil
	}
	out := make([]byte, len(ob))
	for i := range ob {
		out[i] = ob[i]&^mb[i] | vb[i]&mb[i]
	}
	h.cur[field] = formatBytes(out, kv)
	return nil
}

// mods lists the fields whose current value differs from the input, sorted.
func (h *headers) mods() []string {
	var ms []string
	for k, v := range h.cur {
		if h.initial[k] != v {
			ms = append(ms, k+"="+v)
		}
	}
	if !slices.Equal(h.vlan, h.vlan0) {
		s := "none"
		if len(h.vlan) > 0 {
			s = strings.Join(h.vlan, "+")
		}
		ms = append(ms, "vlan="+s)
	}
	slices.Sort(ms)
	return ms
}

// canonicalVLAN turns push_vlan's "vid=10,pcp=0" (optionally with tpid and cfi) into
// "vid=10,pcp=0", keeping a non-default TPID as a prefix.
func canonicalVLAN(args string) string {
	kv := map[string]string{}
	for _, p := range strings.Split(args, ",") {
		k, v, _ := strings.Cut(p, "=")
		kv[k] = canonicalValue(v)
	}
	s := "vid=" + kv["vid"] + ",pcp=" + kv["pcp"]
	if t := kv["tpid"]; t != "" && t != "33024" {
		s = "tpid=" + t + "," + s
	}
	return s
}

// canonicalValue normalises a printed value: integers to decimal, MACs to lower case, IPv6 to
// its compressed form; anything else is returned as is.
func canonicalValue(s string) string {
	b, kind := valueBytes(s)
	if kind == "" {
		return s
	}
	return formatBytes(b, kind)
}

// valueBytes parses an integer (decimal or 0x), a MAC, an IPv4 or an IPv6 address into
// big-endian bytes and says which it was ("" when none).
func valueBytes(s string) ([]byte, string) {
	if n, err := strconv.ParseUint(s, 0, 64); err == nil {
		return binary.BigEndian.AppendUint64(nil, n), "int"
	}
	if len(s) == 17 && strings.Count(s, ":") == 5 {
		b := make([]byte, 0, 6)
		for _, p := range strings.Split(s, ":") {
			n, err := strconv.ParseUint(p, 16, 8)
			if err != nil {
				return nil, ""
			}
			b = append(b, byte(n))
		}
		return b, "mac"
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Is4() {
			b := a.As4()
			return b[:], "ipv4"
		}
		b := a.As16()
		return b[:], "ipv6"
	}
	return nil, ""
}

func formatBytes(b []byte, kind string) string {
	switch kind {
	case "int":
		return strconv.FormatUint(binary.BigEndian.Uint64(b), 10)
	case "mac":
		ss := make([]string, len(b))
		for i, x := range b {
			ss[i] = fmt.Sprintf("%02x", x)
		}
		return strings.Join(ss, ":")
	case "ipv4":
		return netip.AddrFrom4([4]byte(b)).String()
	case "ipv6":
		return netip.AddrFrom16([16]byte(b)).String()
	}
	return fmt.Sprintf("%x", b)
}

// splitTop splits s at commas that are not inside parentheses.
func splitTop(s string) ([]string, error) {
	var parts []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced ')' at %d", i)
			}
		case ',':
			if depth == 0 {
				parts = append(parts, strings.TrimSpace(s[start:i]))
				start = i + 1
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced '('")
	}
	if rest := strings.TrimSpace(s[start:]); rest != "" || len(parts) > 0 {
		parts = append(parts, rest)
	}
	return parts, nil
}

// cutCall splits "name(args)" into name and args.
func cutCall(s string) (name, args string, ok bool) {
	i := strings.IndexByte(s, '(')
	if i < 0 || !strings.HasSuffix(s, ")") {
		return s, "", false
	}
	return s[:i], s[i+1 : len(s)-1], true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
