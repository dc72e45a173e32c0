package ovstest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Trace is the parsed output of one ofproto/trace: the first pass through the tables and one
// pass per recirculation, in the order OVS printed them.
type Trace struct {
	Passes []Pass
	// Raw is ofproto/trace's output as printed, for failure messages.
	Raw string

	odpToOF map[uint32]uint32 // datapath → OpenFlow port numbers; nil means identical
}

// Pass is one walk through the flow tables: the first lookup (RecircID 0) or the resumption
// after a recirculation.
type Pass struct {
	// RecircID is 0 for the first pass, else the recirculation ID from "recirc(0x…)".
	RecircID uint32
	// Header is the banner text of a recirculated pass, e.g. "resume conntrack with
	// ct_state=est|trk", plus any NAT-simulation lines under it.
	Header string
	// Flow is the flow the pass started with, as printed after "Flow: ".
	Flow string
	// Steps are the flow-table lookups in order (resubmits and goto_table included).
	Steps []Step
	// Notes are lines printed before the first lookup (e.g. "thaw", "Resuming from table 1").
	Notes []string
	// FinalFlow is the flow after the pass ("unchanged" is kept as printed).
	FinalFlow string
	// Megaflow is the datapath flow OVS would install for the pass.
	Megaflow string
	// DatapathActions is the raw "Datapath actions:" line of the pass.
	DatapathActions string
	// Error is OVS's reason when translation failed ("Recursion too deep"), else "".
	Error string
}

// Step is one flow-table lookup of a pass.
type Step struct {
	Table int
	// Missed is true when no flow matched ("No match.").
	Missed bool
	// Match is the matched flow's match as OVS prints it ("" for a catch-all flow).
	Match    string
	Priority int
	Cookie   uint64
	// Actions are the action lines printed under the lookup, in order (group buckets'
	// actions and lines such as "drop" and "bucket 1" included).
	Actions []string
	// Notes are the explanation lines ("-> …", ">> …") under the lookup.
	Notes []string
	// Buckets are the select-group buckets OVS chose in this step ("using bucket N").
	Buckets []int
}

var (
	stepRE     = regexp.MustCompile(`^\s*(\d+)\. (.*)$`)
	priorityRE = regexp.MustCompile(`^(?:(.*), )?priority (\d+)(?:, cookie (0x[0-9a-f]+))?$`)
	recircRE   = regexp.MustCompile(`^recirc\((0x[0-9a-f]+)\)(?: - (.*))?$`)
	bucketRE   = regexp.MustCompile(`^-> using bucket (\d+)`)
)

// ParseTrace parses ofproto/trace's output. It fails on output it does not recognise rather
// than guess; a pass that printed no "Datapath actions" line is an error.
func ParseTrace(out string) (*Trace, error) {
	tr := &Trace{Raw: out}
	var (
		p        *Pass
		step     *Step
		inBanner bool // between the two "=====" lines of a recirculation banner
		header   []string
		recirc   uint32
	)
	finish := func() error {
		if p == nil {
			return nil
		}
		if p.DatapathActions == "" && p.Error == "" {
			return fmt.Errorf("parse trace: pass %#x has no datapath actions", p.RecircID)
		}
		tr.Passes = append(tr.Passes, *p)
		p, step = nil, nil
		return nil
	}
	for n, line := range strings.Split(out, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case strings.HasPrefix(trimmed, "====="):
			if !inBanner {
				if err := finish(); err != nil {
					return nil, err
				}
				header, recirc = nil, 0
			}
			inBanner = !inBanner
			continue
		case inBanner:
			if m := recircRE.FindStringSubmatch(trimmed); m != nil {
				id, _ := strconv.ParseUint(m[1], 0, 32)
				recirc = uint32(id)
				header = append(header, m[2])
			} else if trimmed != "" {
				header = append(header, trimmed)
			}
			continue
		case trimmed == "":
			continue
		case strings.HasPrefix(line, "Flow: "):
			if err := finish(); err != nil {
				return nil, err
			}
			p = &Pass{RecircID: recirc, Header: strings.Join(header, "\n"), Flow: strings.TrimPrefix(line, "Flow: ")}
			continue
		}
		if p == nil {
			return nil, fmt.Errorf("parse trace: line %d %q before any \"Flow:\" line", n+1, line)
		}
		switch {
		case strings.HasPrefix(line, "Final flow: "):
			p.FinalFlow, step = strings.TrimPrefix(line, "Final flow: "), nil
		case strings.HasPrefix(line, "Megaflow: "):
			p.Megaflow = strings.TrimPrefix(line, "Megaflow: ")
		case strings.HasPrefix(line, "Datapath actions: "):
			p.DatapathActions = strings.TrimPrefix(line, "Datapath actions: ")
		case strings.HasPrefix(line, "Translation failed ("):
			p.Error = strings.TrimSuffix(strings.TrimPrefix(line, "Translation failed ("), "), packet is dropped.")
		case strings.HasPrefix(line, "bridge(") || strings.HasPrefix(trimmed, "---"):
		case stepRE.MatchString(line):
			m := stepRE.FindStringSubmatch(line)
			table, _ := strconv.Atoi(m[1])
			s := Step{Table: table}
			if m[2] == "No match." {
				s.Missed = true
			} else {
				pm := priorityRE.FindStringSubmatch(m[2])
				if pm == nil {
					return nil, fmt.Errorf("parse trace: line %d: table step %q has no priority", n+1, line)
				}
				s.Match = pm[1]
				s.Priority, _ = strconv.Atoi(pm[2])
				if pm[3] != "" {
					s.Cookie, _ = strconv.ParseUint(pm[3], 0, 64)
				}
			}
			p.Steps = append(p.Steps, s)
			step = &p.Steps[len(p.Steps)-1]
		case step == nil:
			p.Notes = append(p.Notes, trimmed)
		case strings.HasPrefix(trimmed, "->") || strings.HasPrefix(trimmed, ">>"):
			step.Notes = append(step.Notes, trimmed)
			if m := bucketRE.FindStringSubmatch(trimmed); m != nil {
				b, _ := strconv.Atoi(m[1])
				step.Buckets = append(step.Buckets, b)
			}
		default:
			step.Actions = append(step.Actions, trimmed)
		}
	}
	if inBanner {
		return nil, fmt.Errorf("parse trace: unterminated recirculation banner")
	}
	if err := finish(); err != nil {
		return nil, err
	}
	if len(tr.Passes) == 0 {
		return nil, fmt.Errorf("parse trace: no \"Flow:\" line in %q", out)
	}
	return tr, nil
}

// Pass returns the pass with the given recirculation ID, or nil.
func (tr *Trace) Pass(recircID uint32) *Pass {
	for i := range tr.Passes {
		if tr.Passes[i].RecircID == recircID {
			return &tr.Passes[i]
		}
	}
	return nil
}

// Tables returns the table of every lookup in every pass, in order: the path the packet took.
func (tr *Trace) Tables() []int {
	var ts []int
	for _, p := range tr.Passes {
		for _, s := range p.Steps {
			ts = append(ts, s.Table)
		}
	}
	return ts
}

// parseDpifShow reads the datapath → OpenFlow port numbering from dpif/show lines such as
// "    p1 1/1: (dummy)" (name ofport/odp-port).
func parseDpifShow(out string) (map[uint32]uint32, error) {
	m := make(map[uint32]uint32)
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || !strings.HasSuffix(f[1], ":") || !strings.Contains(f[1], "/") {
			continue
		}
		of, odp, _ := strings.Cut(strings.TrimSuffix(f[1], ":"), "/")
		ofn, err1 := strconv.ParseUint(of, 10, 32)
		odpn, err2 := strconv.ParseUint(odp, 10, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		m[uint32(odpn)] = uint32(ofn)
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("parse dpif/show: no ports in %q", out)
	}
	return m, nil
}
