package flow

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseFlow parses one flow in ovs-ofctl add-flow syntax ("table=0,priority=100,ip,
// nw_src=10.0.0.0/8,actions=ct(table=1,zone=5)"), or a dump-flows line (statistics such as
// n_packets and duration are kept in Stats). The flow is normalised as OVS stores it and
// validated (Flow.Validate); errors name the flow text.
func ParseFlow(s string) (*Flow, error) {
	f, err := parseFlow(s, true)
	if err != nil {
		return nil, fmt.Errorf("flow %q: %w", strings.TrimSpace(s), err)
	}
	return f, nil
}

// ParseFlowFilter parses a flow filter as del-flows and dump-flows take it: a match with
// optional table, cookie=V/M (a cookie mask) and priority, no actions.
func ParseFlowFilter(s string) (*Flow, error) {
	f, err := parseFlow(s, false)
	if err != nil {
		return nil, fmt.Errorf("flow filter %q: %w", strings.TrimSpace(s), err)
	}
	return f, nil
}

// ParseFlows parses one flow per line, as ovs-ofctl add-flows reads a file: blank lines and
// lines starting with '#' are skipped. Errors carry the line number.
func ParseFlows(r io.Reader) ([]*Flow, error) { return parseLines(r, "flows", ParseFlow) }

// parseLines parses one item per line, skipping blank lines and '#' comments.
func parseLines[T any](r io.Reader, what string, parse func(string) (T, error)) ([]T, error) {
	var out []T
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		v, err := parse(t)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read %s: %w", what, err)
	}
	return out, nil
}

func parseFlow(s string, withActions bool) (*Flow, error) {
	f := &Flow{Priority: DefaultPriority, Stats: Stats{IdleAge: -1, HardAge: -1}}
	matchPart := s
	if withActions {
		i := strings.Index(s, "actions=")
		if i < 0 {
			return nil, fmt.Errorf("must specify an action")
		}
		matchPart = s[:i]
		ins, err := parseInstructions(s[i+len("actions="):])
		if err != nil {
			return nil, err
		}
		f.Instructions = ins
	} else if strings.Contains(s, "actions=") {
		return nil, fmt.Errorf("a flow filter takes no actions")
	}
	elems, err := splitList(matchPart)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		if e.paren {
			return nil, fmt.Errorf("%s(...): unexpected parentheses in a match", e.key)
		}
		switch e.key {
		case "table":
			if f.Table, err = parseTable(e.value, "table"); err != nil {
				return nil, err
			}
		case "priority":
			if f.Priority, err = parseU16(e.value, "priority"); err != nil {
				return nil, err
			}
		case "idle_timeout":
			if f.IdleTimeout, err = parseU32(e.value, "idle_timeout"); err != nil {
				return nil, err
			}
		case "hard_timeout":
			if f.HardTimeout, err = parseU32(e.value, "hard_timeout"); err != nil {
				return nil, err
			}
		case "importance":
			if f.Importance, err = parseU16(e.value, "importance"); err != nil {
				return nil, err
			}
		case "cookie":
			vs, ms, masked := strings.Cut(e.value, "/")
			c, err := parseCookie(vs)
			if err != nil {
				return nil, err
			}
			f.Cookie = c
			if masked {
				if withActions {
					return nil, fmt.Errorf("flow additions cannot use a cookie mask")
				}
				if f.CookieMask, err = parseCookie(ms); err != nil {
					return nil, err
				}
				f.Cookie &= f.CookieMask
			}
		case "send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts":
			f.Flags |= FlowFlags(1) << slices.Index(flowFlagNames, e.key)
		case "duration":
			sec, err := strconv.ParseFloat(strings.TrimSuffix(e.value, "s"), 64)
			if err != nil || sec < 0 {
				return nil, fmt.Errorf("duration=%s: not a duration in seconds", e.value)
			}
			f.Stats.Duration = time.Duration(sec*1e9 + 0.5)
			f.Stats.Valid = true
		case "n_packets", "n_bytes":
			n, err := strconv.ParseUint(e.value, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%s=%s: not a number", e.key, e.value)
			}
			if e.key == "n_packets" {
				f.Stats.Packets = n
			} else {
				f.Stats.Bytes = n
			}
			f.Stats.Valid = true
		case "idle_age", "hard_age":
			n, err := strconv.ParseInt(e.value, 10, 64)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%s=%s: not a number of seconds", e.key, e.value)
			}
			if e.key == "idle_age" {
				f.Stats.IdleAge = n
			} else {
				f.Stats.HardAge = n
			}
		default:
			if err := f.Match.ParseMatchField(e.key, e.value); err != nil {
				return nil, err
			}
		}
	}
	f.Match.normalize()
	if withActions {
		f.normalize()
		if err := f.validate(); err != nil {
			return nil, err
		}
	} else if err := f.Match.Validate(); err != nil {
		return nil, err
	}
	return f, nil
}

// flowFlagNames are the FlowFlags bits' names, bit 0 first.
var flowFlagNames = []string{"send_flow_rem", "check_overlap", "reset_counts", "no_packet_counts", "no_byte_counts"}

// parseCookie parses a 64-bit cookie; "-1" is all ones (as in cookie=0x5/-1).
func parseCookie(s string) (uint64, error) {
	if s == "-1" {
		return ^uint64(0), nil
	}
	v, err := parseInt(s)
	if err != nil || v.Hi != 0 {
		return 0, fmt.Errorf("cookie %s: not a 64-bit number", s)
	}
	return v.Lo, nil
}

// normalize rewrites generic mod_tp_src/mod_tp_dst into the protocol-specific fields the match
// establishes, as OVS does when it encodes them.
func (f *Flow) normalize() {
	proto, ok := f.Match.ipProto()
	fix := func(acts []Action) {
		for _, a := range acts {
			sf, isSet := a.(*SetField)
			if !isSet || !ok || (sf.Field != FieldTpSrc && sf.Field != FieldTpDst) {
				continue
			}
			src := sf.Field == FieldTpSrc
			switch proto {
			case IPProtoTCP:
				sf.Field = pick(src, FieldTCPSrc, FieldTCPDst)
			case IPProtoUDP:
				sf.Field = pick(src, FieldUDPSrc, FieldUDPDst)
			case IPProtoSCTP:
				sf.Field = pick(src, FieldSCTPSrc, FieldSCTPDst)
			}
		}
	}
	fix(f.Instructions.Apply)
	fix(f.Instructions.Write)
	keepLegacyTTL(f.Instructions.Apply)
	keepLegacyTTL(f.Instructions.Write)
	f.Instructions.Apply = pushVLANIfNeeded(f.Instructions.Apply, f.Match.satisfies(preVLAN, 0))
	f.Instructions.Write = pushVLANIfNeeded(f.Instructions.Write, f.Match.satisfies(preVLAN, 0))
}

// keepLegacyTTL keeps only mod_nw_ttl's OpenFlow 1.0-style name in a flow: OVS turns mod_tp_src
// and mod_tp_dst into set_field actions there (it keeps them as written in group buckets).
func keepLegacyTTL(acts []Action) {
	for _, a := range acts {
		if sf, ok := a.(*SetField); ok && sf.legacy != "mod_nw_ttl" {
			sf.legacy = ""
		}
	}
}

// pushVLANIfNeeded makes mod_vlan_vid/mod_vlan_pcp's implicit push explicit, as OVS does:
// where the packet has no VLAN header at that point, a push_vlan:0x8100 goes first.
func pushVLANIfNeeded(acts []Action, vlan bool) []Action {
	var out []Action
	for i, a := range acts {
		switch a := a.(type) {
		case *PushVLAN:
			vlan = true
		case *PopVLAN:
			vlan = false
		case *SetField:
			if a.pushVLAN {
				a.pushVLAN = false
				if !vlan {
					if out == nil {
						out = append([]Action(nil), acts[:i]...)
					}
					out = append(out, &PushVLAN{EthType: EthTypeVLAN})
					vlan = true
				}
			}
		}
		if out != nil {
			out = append(out, a)
		}
	}
	if out == nil {
		return acts
	}
	return out
}

// String prints the flow as `ovs-ofctl dump-flows --no-stats` does (without its leading
// space): cookie and table only when non-zero, then timeouts, flags, the match with its
// priority, and the actions.
func (f *Flow) String() string { return f.format(false) }

// DumpString prints the flow with statistics, as `ovs-ofctl dump-flows` does.
func (f *Flow) DumpString() string { return f.format(true) }

func (f *Flow) format(stats bool) string {
	var b strings.Builder
	if stats || f.Cookie != 0 || f.CookieMask != 0 {
		fmt.Fprintf(&b, "cookie=%#x", f.Cookie)
		if f.CookieMask != 0 { // only filters carry a mask
			fmt.Fprintf(&b, "/%#x", f.CookieMask)
		}
		b.WriteString(", ")
	}
	if stats {
		b.WriteString("duration=" + formatDuration(f.Stats.Duration) + ", ")
	}
	if stats || f.Table != 0 {
		fmt.Fprintf(&b, "table=%d, ", f.Table)
	}
	if stats {
		fmt.Fprintf(&b, "n_packets=%d, n_bytes=%d, ", f.Stats.Packets, f.Stats.Bytes)
	}
	if f.IdleTimeout != 0 {
		fmt.Fprintf(&b, "idle_timeout=%d, ", f.IdleTimeout)
	}
	if f.HardTimeout != 0 {
		fmt.Fprintf(&b, "hard_timeout=%d, ", f.HardTimeout)
	}
	for i, name := range flowFlagNames {
		if f.Flags&(1<<i) != 0 {
			b.WriteString(name + " ")
		}
	}
	if f.Importance != 0 {
		fmt.Fprintf(&b, "importance=%d, ", f.Importance)
	}
	if stats && f.Stats.IdleAge >= 0 {
		fmt.Fprintf(&b, "idle_age=%d, ", f.Stats.IdleAge)
	}
	if stats && f.Stats.HardAge >= 0 && f.Stats.HardAge != int64(f.Stats.Duration/time.Second) {
		fmt.Fprintf(&b, "hard_age=%d, ", f.Stats.HardAge)
	}
	n := b.Len()
	f.Match.format(&b, f.Priority)
	if b.Len() != n {
		b.WriteByte(' ')
	}
	b.WriteString("actions=")
	b.WriteString(f.Instructions.String())
	return b.String()
}

// formatDuration prints seconds as OVS's ofp_print_duration: milliseconds when exact,
// otherwise as many decimals as needed.
func formatDuration(d time.Duration) string {
	sec, nsec := int64(d/time.Second), int64(d%time.Second)
	s := strconv.FormatInt(sec, 10)
	if nsec > 0 {
		if nsec%1e6 == 0 {
			s += fmt.Sprintf(".%03d", nsec/1e6)
		} else {
			s += strings.TrimRight(fmt.Sprintf(".%09d", nsec), "0")
		}
	}
	return s + "s"
}
