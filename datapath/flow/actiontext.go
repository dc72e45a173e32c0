package flow

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// kv is one element of an ovs-ofctl list: "key", "key:value", "key=value" or "key(value)".
type kv struct {
	key, value string
	paren      bool // value came in parentheses
}

// splitList splits s at top-level commas into key/value elements, as OVS's
// ofputil_parse_key_value does: a key ends at ':', '=', '(' or ','; a value after ':' or '='
// runs to the next comma or white space outside parentheses; a value in parentheses runs to
// the matching ')'.
func splitList(s string) ([]kv, error) {
	var out []kv
	for {
		s = strings.TrimLeft(s, " \t\r\n,")
		if s == "" {
			return out, nil
		}
		i := strings.IndexAny(s, ":=(, \t")
		if i < 0 {
			out = append(out, kv{key: s})
			return out, nil
		}
		e := kv{key: s[:i]}
		switch s[i] {
		case '(':
			depth, j := 0, i
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
					if depth == 0 {
						break
					}
				}
			}
			if j == len(s) {
				return nil, fmt.Errorf("%s: unbalanced parentheses", s)
			}
			e.value, e.paren = s[i+1:j], true
			s = s[j+1:]
			if s != "" && s[0] != ',' {
				return nil, fmt.Errorf("%s: expected ',' after ')'", s)
			}
		case ':', '=':
			j, depth := i+1, 0
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					depth--
				} else if depth <= 0 && (s[j] == ',' || s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n') {
					break
				}
			}
			e.value = s[i+1 : j]
			s = s[j:]
		default:
			s = s[i:]
		}
		out = append(out, e)
	}
}

// parseSubfield parses "NAME[]", "NAME[n]", "NAME[a..b]" or a bare field name (the whole field).
func parseSubfield(s string) (Subfield, error) {
	name, rest, bracket := strings.Cut(s, "[")
	f, ok := lookupField(name)
	if !ok {
		return Subfield{}, fmt.Errorf("%s: unknown field", s)
	}
	w := f.Width()
	if !bracket {
		return Subfield{Field: f, Bits: w}, nil
	}
	inner, ok := strings.CutSuffix(rest, "]")
	if !ok {
		return Subfield{}, fmt.Errorf("%s: missing ']'", s)
	}
	if inner == "" {
		return Subfield{Field: f, Bits: w}, nil
	}
	a, b, rng := strings.Cut(inner, "..")
	start, err := strconv.ParseUint(a, 10, 16)
	if err != nil {
		return Subfield{}, fmt.Errorf("%s: malformed subfield bit range", s)
	}
	end := start
	if rng {
		if end, err = strconv.ParseUint(b, 10, 16); err != nil {
			return Subfield{}, fmt.Errorf("%s: malformed subfield bit range", s)
		}
	}
	if start >= uint64(w) {
		return Subfield{}, fmt.Errorf("%s: starting bit %d is not valid because field is only %d bits wide", s, start, w)
	}
	if end >= uint64(w) {
		return Subfield{}, fmt.Errorf("%s: ending bit %d is not valid because field is only %d bits wide", s, end, w)
	}
	if start > end {
		return Subfield{}, fmt.Errorf("%s: starting bit %d is greater than ending bit %d", s, start, end)
	}
	return Subfield{Field: f, Ofs: uint16(start), Bits: uint16(end - start + 1)}, nil
}

// subfieldMask returns the mask of a subfield's bits within its field.
func (s Subfield) mask() Value { return ones(s.Bits).shl(s.Ofs) }

func parseU32(s, what string) (uint32, error) {
	v, err := parseUintBits(s, 32)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return uint32(v), nil
}

func parseU16(s, what string) (uint16, error) {
	v, err := parseUintBits(s, 16)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return uint16(v), nil
}

func parseTable(s, what string) (uint8, error) {
	v, err := parseInt(s)
	if err != nil || v.Hi != 0 || v.Lo > 254 {
		return 0, fmt.Errorf("%s: %s: table must be 0 through 254", what, s)
	}
	return uint8(v.Lo), nil
}

// parseHexBytes parses "01.02.03", "010203" or "01:02" (note, userdata).
func parseHexBytes(s string) ([]byte, error) {
	h := strings.NewReplacer(".", "", ":", "").Replace(s)
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%s: bad hex digit in byte string", s)
	}
	return b, nil
}

func formatHexBytes(b []byte) string {
	parts := make([]string, len(b))
	for i, c := range b {
		parts[i] = fmt.Sprintf("%02x", c)
	}
	return strings.Join(parts, ".")
}

// parseInstructions parses the text after "actions=" into instructions, enforcing OpenFlow's
// instruction order as ovs-ofctl does.
func parseInstructions(s string) (Instructions, error) {
	var ins Instructions
	elems, err := splitList(s)
	if err != nil {
		return ins, err
	}
	// Instruction ranks: meter 0, apply 1, clear 2, write 3, write_metadata 4, goto 5.
	names := [...]string{"meter", "apply_actions", "clear_actions", "write_actions", "write_metadata", "goto_table"}
	last, lastName := -1, ""
	sawDrop := false
	order := func(rank int) error {
		if rank < last || (rank == last && rank != 1) {
			if rank == last {
				return fmt.Errorf("instruction %s may be specified only once", names[rank])
			}
			return fmt.Errorf("invalid instruction ordering: %s must appear before %s, for OpenFlow 1.1+ compatibility", names[rank], lastName)
		}
		last, lastName = rank, names[rank]
		return nil
	}
	for _, e := range elems {
		var err error
		switch e.key {
		case "drop":
			sawDrop = true
			continue
		case "apply_actions":
			return ins, fmt.Errorf("apply_actions is the default instruction")
		case "meter":
			if err = order(0); err == nil {
				var id uint32
				if id, err = parseU32(e.value, "meter"); err == nil {
					ins.Apply = append(ins.Apply, &Meter{MeterID: id})
				}
			}
		case "clear_actions":
			err = order(2)
			ins.ClearActions = true
		case "write_actions":
			if err = order(3); err == nil {
				var acts []Action
				if acts, err = parseActionList(e.value); err == nil {
					if len(acts) > 0 {
						ins.Write = acts
					}
				}
			}
		case "write_metadata":
			if err = order(4); err == nil {
				vs, ms, masked := strings.Cut(e.value, "/")
				var v, m Value
				if v, err = parseInt(vs); err == nil {
					m = ones(64)
					if masked {
						m, err = parseInt(ms)
					}
				}
				if err == nil && (v.Hi != 0 || m.Hi != 0) {
					err = fmt.Errorf("write_metadata: %s: value does not fit in 64 bits", e.value)
				}
				ins.HasWriteMetadata, ins.WriteMetadata, ins.WriteMetadataMask = true, v.Lo, m.Lo
			}
		case "goto_table":
			if err = order(5); err == nil {
				ins.GotoTable, err = parseTable(e.value, "goto_table")
				ins.HasGotoTable = true
			}
		default:
			if err = order(1); err == nil {
				var a Action
				if a, err = parseAction(e); err == nil {
					ins.Apply = append(ins.Apply, a)
				}
			}
		}
		if err != nil {
			return ins, err
		}
	}
	if sawDrop && (len(ins.Apply) > 0 || ins.ClearActions || ins.Write != nil || ins.HasWriteMetadata || ins.HasGotoTable) {
		return ins, fmt.Errorf("\"drop\" must not be accompanied by any other action or instruction")
	}
	return ins, nil
}

// parseActionList parses a comma-separated list of plain actions (write_actions, exec, buckets).
func parseActionList(s string) ([]Action, error) {
	elems, err := splitList(s)
	if err != nil {
		return nil, err
	}
	var acts []Action
	for _, e := range elems {
		if e.key == "drop" {
			if len(elems) > 1 {
				return nil, fmt.Errorf("\"drop\" must not be accompanied by any other action or instruction")
			}
			continue
		}
		a, err := parseAction(e)
		if err != nil {
			return nil, err
		}
		acts = append(acts, a)
	}
	return acts, nil
}

// parseAction parses one action element.
func parseAction(e kv) (Action, error) {
	v := e.value
	switch strings.ToLower(e.key) {
	case "output":
		if e.paren {
			return nil, fmt.Errorf("output(...): only output:PORT and output:FIELD[] are supported")
		}
		if strings.Contains(v, "[") {
			sf, err := parseSubfield(v)
			if err != nil {
				return nil, fmt.Errorf("output: %w", err)
			}
			return &OutputReg{Src: sf}, nil
		}
		p, err := parsePort(v)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		if p == PortController {
			return &Output{Port: p, MaxLen: 0xffff}, nil
		}
		return &Output{Port: p}, nil
	case "controller":
		return parseController(v, e.paren)
	case "enqueue":
		return nil, fmt.Errorf("enqueue: not supported")
	case "set_field":
		return parseSetField(v)
	case "load":
		return parseLoad(v)
	case "move":
		return parseMove(v)
	case "mod_nw_src", "mod_nw_dst", "mod_dl_src", "mod_dl_dst", "mod_tp_src", "mod_tp_dst",
		"mod_nw_ttl", "mod_nw_ecn", "mod_nw_tos", "mod_vlan_vid", "set_vlan_vid", "mod_vlan_pcp", "set_vlan_pcp":
		return parseMod(strings.ToLower(e.key), v)
	case "resubmit":
		return parseResubmit(v, e.paren)
	case "ct":
		return parseCT(v)
	case "ct_clear":
		return &CTClear{}, nil
	case "group":
		id, err := parseU32(v, "group")
		if err != nil {
			return nil, err
		}
		return &Group{GroupID: id}, nil
	case "meter":
		return nil, fmt.Errorf("invalid instruction ordering: meter must appear before apply_actions, for OpenFlow 1.1+ compatibility")
	case "conjunction":
		return parseConjunction(v)
	case "dec_ttl":
		d := &DecTTL{}
		if e.paren {
			for _, id := range strings.Split(v, ",") {
				n, err := parseU16(strings.TrimSpace(id), "dec_ttl controller id")
				if err != nil {
					return nil, err
				}
				d.IDs = append(d.IDs, n)
			}
			if len(d.IDs) == 0 {
				return nil, fmt.Errorf("dec_ttl_cnt_ids: expected at least one controller id")
			}
		}
		return d, nil
	case "push_vlan":
		t, err := parseU16(v, "push_vlan")
		if err != nil {
			return nil, err
		}
		if t != 0x8100 && t != 0x88a8 {
			return nil, fmt.Errorf("push_vlan: %s: not a valid VLAN ethertype (0x8100 or 0x88a8)", v)
		}
		return &PushVLAN{EthType: t}, nil
	case "pop_vlan", "strip_vlan":
		return &PopVLAN{}, nil
	case "note":
		b, err := parseHexBytes(v)
		if err != nil {
			return nil, fmt.Errorf("note: %w", err)
		}
		// OVS pads a note to fill its 8-byte aligned action: 10 header bytes + data.
		n := (10+len(b)+7)/8*8 - 10
		return &Note{Data: append(b, make([]byte, n-len(b))...)}, nil
	case "learn":
		return parseLearn(v)
	case "clear_actions", "write_actions", "write_metadata", "goto_table", "apply_actions":
		return nil, fmt.Errorf("%s: instruction not allowed here", e.key)
	}
	// A bare port: number or reserved name ("1", "LOCAL", "IN_PORT", "CONTROLLER:100").
	p, err := parsePort(e.key)
	if err != nil {
		return nil, fmt.Errorf("unknown action %s", e.key)
	}
	o := &Output{Port: p}
	if p == PortController {
		o.MaxLen = 0xffff
		if v != "" {
			if o.MaxLen, err = parseU16(v, "max_len"); err != nil {
				return nil, err
			}
		}
	} else if v != "" {
		return nil, fmt.Errorf("%s:%s: unexpected value after port", e.key, v)
	}
	return o, nil
}

var reasonNames = []string{"action", "no_match", "invalid_ttl", "action_set", "group", "packet_out"}

func parseController(v string, paren bool) (Action, error) {
	c := &Controller{MaxLen: 0xffff}
	if !paren {
		if v != "" {
			n, err := parseU16(v, "max_len")
			if err != nil {
				return nil, err
			}
			c.MaxLen = n
		}
		return c.normalize(), nil
	}
	elems, err := splitList(v)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		switch e.key {
		case "reason":
			found := false
			for i, n := range reasonNames {
				if n == e.value {
					c.Reason, found = ControllerReason(i), true
				}
			}
			if !found {
				return nil, fmt.Errorf("unknown reason \"%s\"", e.value)
			}
		case "max_len":
			if c.MaxLen, err = parseU16(e.value, "max_len"); err != nil {
				return nil, err
			}
		case "id":
			if c.ID, err = parseU16(e.value, "id"); err != nil {
				return nil, err
			}
		case "userdata":
			if c.UserData, err = parseHexBytes(e.value); err != nil {
				return nil, fmt.Errorf("userdata: %w", err)
			}
			if len(c.UserData) == 0 {
				c.UserData = nil
			}
		case "pause":
			c.Pause = true
		case "meter_id":
			if c.Meter, err = parseU32(e.value, "meter_id"); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("unknown key \"%s\" parsing controller action", e.key)
		}
	}
	return c.normalize(), nil
}

// normalize turns a controller action with nothing but a length into the equivalent output
// to CONTROLLER, which is how OVS prints (and stores) it.
func (c *Controller) normalize() Action {
	if c.Reason == ReasonAction && c.ID == 0 && len(c.UserData) == 0 && !c.Pause && c.Meter == 0 {
		return &Output{Port: PortController, MaxLen: c.MaxLen}
	}
	return c
}

func parseSetField(v string) (Action, error) {
	val, dst, ok := strings.Cut(v, "->")
	if !ok {
		return nil, fmt.Errorf("set_field:%s: missing '->'", v)
	}
	f, ok := lookupField(dst)
	if !ok {
		return nil, fmt.Errorf("set_field:%s: unknown field %s", v, dst)
	}
	if !specs[f].writable {
		return nil, fmt.Errorf("set_field:%s: %s is read-only", v, specs[f].name)
	}
	value, mask, err := parseSetValue(f, val)
	if err != nil {
		return nil, fmt.Errorf("set_field:%s: %w", v, err)
	}
	if mask.isZero() {
		return nil, fmt.Errorf("set_field:%s: mask is zero", v)
	}
	if !value.andNot(mask).isZero() {
		return nil, fmt.Errorf("set_field:%s: value has bits outside its mask (OFPBMC_BAD_WILDCARDS)", v)
	}
	return &SetField{Field: f, Value: value, Mask: mask}, nil
}

// parseSetValue parses a set_field value, keeping value bits outside the mask so that the
// validator can reject them (OVS's switch does: OFPBMC_BAD_WILDCARDS).
func parseSetValue(f Field, s string) (Value, Value, error) {
	sp := &specs[f]
	switch f {
	case FieldVLANVID:
		// vlan_vid values carry the 0x1000 "present" bit; OVS sets it for values without it.
		v, m, err := parseValue(f, s)
		return v, m, err
	}
	if sp.kind == kindHex || sp.kind == kindDec || (sp.kind == kindPort && strings.Contains(s, "/")) {
		vs, ms, masked := strings.Cut(s, "/")
		v, err := parseInt(vs)
		if err != nil {
			return v, v, err
		}
		w := f.valueWidth()
		m := ones(w)
		if masked {
			if m, err = parseInt(ms); err != nil {
				return v, m, err
			}
		}
		if v.bitLen() > int(w) || m.bitLen() > int(w) {
			return v, m, fmt.Errorf("value %s does not fit in %s's %d bits", s, sp.name, w)
		}
		return v, m, nil
	}
	return parseValue(f, s)
}

func parseLoad(v string) (Action, error) {
	val, dst, ok := strings.Cut(v, "->")
	if !ok {
		return nil, fmt.Errorf("load:%s: missing '->'", v)
	}
	sf, err := parseSubfield(dst)
	if err != nil {
		return nil, fmt.Errorf("load:%s: %w", v, err)
	}
	if !specs[sf.Field].writable {
		return nil, fmt.Errorf("load:%s: %s is read-only", v, specs[sf.Field].name)
	}
	n, err := parseInt(val)
	if err != nil {
		return nil, fmt.Errorf("load:%s: %w", v, err)
	}
	if n.bitLen() > int(sf.Bits) {
		return nil, fmt.Errorf("load:%s: value %s does not fit into %d bits", v, val, sf.Bits)
	}
	mask := sf.mask()
	if sf.Field == FieldInPort && sf.Bits == sf.Field.Width() {
		mask = ones(32) // NXM_OF_IN_PORT[] is the whole port: OVS stores a full set_field
	}
	return &SetField{Field: sf.Field, Value: n.shl(sf.Ofs), Mask: mask}, nil
}

func parseMove(v string) (Action, error) {
	src, dst, ok := strings.Cut(v, "->")
	if !ok {
		return nil, fmt.Errorf("move:%s: missing '->'", v)
	}
	s, err := parseSubfield(src)
	if err != nil {
		return nil, fmt.Errorf("move:%s: %w", v, err)
	}
	d, err := parseSubfield(dst)
	if err != nil {
		return nil, fmt.Errorf("move:%s: %w", v, err)
	}
	if s.Bits != d.Bits {
		return nil, fmt.Errorf("move:%s: source field is %d bits wide but destination is %d bits wide", v, s.Bits, d.Bits)
	}
	if !specs[d.Field].writable {
		return nil, fmt.Errorf("move:%s: destination field %s is read-only", v, specs[d.Field].name)
	}
	return &Move{Src: s, Dst: d}, nil
}

func parseMod(name, v string) (Action, error) {
	var f Field
	switch name {
	case "mod_nw_src":
		f = FieldNwSrc
	case "mod_nw_dst":
		f = FieldNwDst
	case "mod_dl_src":
		f = FieldEthSrc
	case "mod_dl_dst":
		f = FieldEthDst
	case "mod_tp_src":
		f = FieldTpSrc
	case "mod_tp_dst":
		f = FieldTpDst
	case "mod_nw_ttl":
		f = FieldNwTTL
	case "mod_nw_ecn":
		f = FieldNwECN
	case "mod_nw_tos":
		n, err := parseUintBits(v, 8)
		if err != nil || n&3 != 0 {
			return nil, fmt.Errorf("%s:%s: invalid IP TOS (low 2 bits must be zero)", name, v)
		}
		return &SetField{Field: FieldIPDSCP, Value: Value{Lo: n >> 2}, Mask: ones(6)}, nil
	case "mod_vlan_vid", "set_vlan_vid":
		n, err := parseUintBits(v, 12)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: VLAN VID must be 0 through 4095", name, v)
		}
		return &SetField{Field: FieldVLANVID, Value: Value{Lo: 0x1000 | n}, Mask: ones(13), pushVLAN: name == "mod_vlan_vid"}, nil
	case "mod_vlan_pcp", "set_vlan_pcp":
		n, err := parseUintBits(v, 3)
		if err != nil {
			return nil, fmt.Errorf("%s:%s: VLAN priority must be 0 through 7", name, v)
		}
		return &SetField{Field: FieldVLANPCP, Value: Value{Lo: n}, Mask: ones(3), pushVLAN: name == "mod_vlan_pcp"}, nil
	}
	val, mask, err := parseValue(f, v)
	if err != nil {
		return nil, fmt.Errorf("%s:%s: %w", name, v, err)
	}
	if mask != ones(specs[f].bits) && !(specs[f].kind == kindIPv4 && mask.Lo == 0xffffffff) {
		return nil, fmt.Errorf("%s:%s: a mask is not allowed here", name, v)
	}
	sf := &SetField{Field: f, Value: val, Mask: ones(specs[f].bits)}
	switch name {
	case "mod_nw_ttl", "mod_tp_src", "mod_tp_dst":
		sf.legacy = name
	}
	return sf, nil
}

func parseResubmit(v string, paren bool) (Action, error) {
	r := &Resubmit{Port: PortInPort, Table: TableNone}
	if !paren {
		p, err := parsePort(v)
		if err != nil {
			return nil, fmt.Errorf("resubmit:%s: %w", v, err)
		}
		if p == PortInPort {
			return nil, fmt.Errorf("resubmit:%s: at least one \"in_port\" or \"table\" must be specified on resubmit", v)
		}
		r.Port = p
		return r, nil
	}
	parts := strings.Split(v, ",")
	if len(parts) > 3 {
		return nil, fmt.Errorf("resubmit(%s): too many arguments", v)
	}
	if p := strings.TrimSpace(parts[0]); p != "" {
		port, err := parsePort(p)
		if err != nil {
			return nil, fmt.Errorf("resubmit(%s): %w", v, err)
		}
		r.Port = port
	}
	if len(parts) > 1 {
		if t := strings.TrimSpace(parts[1]); t != "" {
			n, err := parseInt(t)
			if err != nil || n.Hi != 0 || n.Lo > 254 {
				return nil, fmt.Errorf("resubmit(%s): %s: resubmit to unknown table", v, t)
			}
			r.Table = uint8(n.Lo)
		}
	}
	if len(parts) > 2 {
		if strings.TrimSpace(parts[2]) != "ct" {
			return nil, fmt.Errorf("resubmit(%s): %s: unknown resubmit argument", v, parts[2])
		}
		r.CT = true
	}
	if r.Port == PortInPort && r.Table == TableNone {
		return nil, fmt.Errorf("resubmit(%s): at least one \"in_port\" or \"table\" must be specified on resubmit", v)
	}
	return r, nil
}

func parseConjunction(v string) (Action, error) {
	var id uint64
	var k, n int
	idS, rest, ok1 := strings.Cut(v, ",")
	kS, nS, ok2 := strings.Cut(rest, "/")
	var err error
	if ok1 && ok2 {
		id, err = strconv.ParseUint(strings.TrimSpace(idS), 0, 32)
		if err == nil {
			k, err = strconv.Atoi(strings.TrimSpace(kS))
		}
		if err == nil {
			n, err = strconv.Atoi(strings.TrimSpace(nS))
		}
	}
	if !ok1 || !ok2 || err != nil {
		return nil, fmt.Errorf("\"conjunction(%s)\": syntax error (expected conjunction(id,k/n))", v)
	}
	if n < 2 || n > 64 {
		return nil, fmt.Errorf("conjunction must have at least 2 clauses and at most 64")
	}
	if k < 1 || k > n {
		return nil, fmt.Errorf("clause index must be positive and no greater than the number of clauses")
	}
	return &Conjunction{ID: uint32(id), Clause: uint8(k), NClauses: uint8(n)}, nil
}

func parseCT(v string) (Action, error) {
	c := &CT{Table: TableNone}
	elems, err := splitList(v)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		switch e.key {
		case "commit":
			c.Commit = true
		case "force":
			c.Force = true
		case "table":
			if c.Table, err = parseTable(e.value, "ct table"); err != nil {
				return nil, err
			}
		case "zone":
			if strings.Contains(e.value, "[") || !startsWithDigit(e.value) {
				sf, err := parseSubfield(e.value)
				if err != nil {
					return nil, fmt.Errorf("ct zone: %w", err)
				}
				if sf.Bits != 16 {
					return nil, fmt.Errorf("ct zone: %s: zone field must be 16 bits wide, not %d", e.value, sf.Bits)
				}
				c.ZoneSrc = sf
			} else if c.Zone, err = parseU16(e.value, "ct zone"); err != nil {
				return nil, err
			}
		case "alg":
			switch e.value {
			case "ftp":
				c.Alg = 21
			case "tftp":
				c.Alg = 69
			default:
				if c.Alg, err = parseU16(e.value, "alg"); err != nil {
					return nil, err
				}
			}
		case "nat":
			if c.NAT, err = parseNAT(e.value, e.paren); err != nil {
				return nil, err
			}
		case "exec":
			acts, err := parseActionList(e.value)
			if err != nil {
				return nil, fmt.Errorf("ct exec: %w", err)
			}
			for _, a := range acts {
				if !isCTExecAction(a) {
					return nil, fmt.Errorf("ct exec: %s: only set_field, load or move into ct_mark and ct_label is allowed", a)
				}
			}
			c.Exec = acts
		default:
			return nil, fmt.Errorf("ct: unknown argument %s", e.key)
		}
	}
	return c, nil
}

// isCTExecAction reports whether a is allowed inside ct(exec(...)): a write to ct_mark or
// ct_label.
func isCTExecAction(a Action) bool {
	switch a := a.(type) {
	case *SetField:
		return a.Field == FieldCtMark || a.Field == FieldCtLabel
	case *Move:
		return a.Dst.Field == FieldCtMark || a.Dst.Field == FieldCtLabel
	}
	return false
}

func startsWithDigit(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }

func parseNAT(v string, paren bool) (*NAT, error) {
	n := &NAT{}
	if !paren {
		return n, nil
	}
	elems, err := splitList(v)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		switch e.key {
		case "src", "dst":
			if n.Src || n.Dst {
				return nil, fmt.Errorf("nat: only one of src or dst may be specified")
			}
			n.Src, n.Dst = e.key == "src", e.key == "dst"
			if e.value != "" {
				if err := n.parseRange(e.value); err != nil {
					return nil, fmt.Errorf("nat %s=%s: %w", e.key, e.value, err)
				}
			}
		case "persistent":
			n.Persistent = true
		case "hash":
			n.Hash = true
		case "random":
			n.Random = true
		default:
			return nil, fmt.Errorf("nat: unknown argument %s", e.key)
		}
	}
	if n.Hash && n.Random {
		return nil, fmt.Errorf("nat: hash and random are mutually exclusive")
	}
	if !n.MinAddr.IsValid() {
		// OVS keeps but never prints the flags without an address range: drop them so the
		// printed form parses back to the same action.
		n.Persistent, n.Hash, n.Random = false, false, false
	}
	if (n.Persistent || n.Hash || n.Random) && !(n.Src || n.Dst) {
		return nil, fmt.Errorf("nat: flags need src or dst")
	}
	return n, nil
}

// parseRange parses ADDR[-ADDR][:PORT[-PORT]], IPv6 addresses in brackets.
func (n *NAT) parseRange(s string) error {
	var addrs, ports string
	if strings.HasPrefix(s, "[") {
		// [a]-[b]:p-q
		end := strings.LastIndex(s, "]")
		addrs, ports = s[:end+1], ""
		if rest := s[end+1:]; rest != "" {
			p, ok := strings.CutPrefix(rest, ":")
			if !ok {
				return fmt.Errorf("garbage after address range")
			}
			ports = p
		}
	} else if strings.Count(s, ":") > 1 {
		addrs = s // bare IPv6 address or range, no ports
	} else {
		var hasPorts bool
		addrs, ports, hasPorts = strings.Cut(s, ":")
		if hasPorts && ports == "" {
			return fmt.Errorf("missing port range")
		}
	}
	lo, hi, rng := strings.Cut(addrs, "-")
	parse := func(a string) (netip.Addr, error) {
		a = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
		ip, err := netip.ParseAddr(a)
		if err != nil || ip.Zone() != "" {
			return netip.Addr{}, fmt.Errorf("%s: invalid IP address", a)
		}
		return ip, nil
	}
	var err error
	if n.MinAddr, err = parse(lo); err != nil {
		return err
	}
	if rng {
		if n.MaxAddr, err = parse(hi); err != nil {
			return err
		}
		if n.MaxAddr.Is4() != n.MinAddr.Is4() || n.MaxAddr.Less(n.MinAddr) {
			return fmt.Errorf("invalid address range")
		}
		if n.MaxAddr == n.MinAddr {
			n.MaxAddr = netip.Addr{}
		}
	}
	if ports != "" {
		lo, hi, rng := strings.Cut(ports, "-")
		if n.MinPort, err = parseU16(lo, "nat port"); err != nil {
			return err
		}
		if rng {
			if n.MaxPort, err = parseU16(hi, "nat port"); err != nil {
				return err
			}
			if n.MaxPort < n.MinPort {
				return fmt.Errorf("invalid port range")
			}
			if n.MaxPort == n.MinPort {
				n.MaxPort = 0
			}
		}
		if n.MinPort == 0 {
			return fmt.Errorf("port 0 is not a valid NAT port")
		}
	}
	return nil
}

func parseLearn(v string) (Action, error) {
	l := &Learn{Table: 1, Priority: DefaultPriority}
	elems, err := splitList(v)
	if err != nil {
		return nil, err
	}
	for _, e := range elems {
		switch e.key {
		case "table":
			if l.Table, err = parseTable(e.value, "learn table"); err != nil {
				return nil, err
			}
		case "priority":
			if l.Priority, err = parseU16(e.value, "learn priority"); err != nil {
				return nil, err
			}
		case "idle_timeout":
			if l.IdleTimeout, err = parseU32(e.value, "learn idle_timeout"); err != nil {
				return nil, err
			}
		case "hard_timeout":
			if l.HardTimeout, err = parseU32(e.value, "learn hard_timeout"); err != nil {
				return nil, err
			}
		case "fin_idle_timeout":
			if l.FinIdle, err = parseU16(e.value, "fin_idle_timeout"); err != nil {
				return nil, err
			}
		case "fin_hard_timeout":
			if l.FinHard, err = parseU16(e.value, "fin_hard_timeout"); err != nil {
				return nil, err
			}
		case "cookie":
			c, err := parseInt(e.value)
			if err != nil || c.Hi != 0 {
				return nil, fmt.Errorf("learn cookie: %s: not a 64-bit number", e.value)
			}
			l.Cookie = c.Lo
		case "send_flow_rem":
			l.SendFlowRem = true
		case "delete_learned":
			l.DeleteLearned = true
		case "limit":
			if l.Limit, err = parseU32(e.value, "learn limit"); err != nil {
				return nil, err
			}
		case "result_dst":
			sf, err := parseSubfield(e.value)
			if err != nil {
				return nil, fmt.Errorf("learn result_dst: %w", err)
			}
			if !specs[sf.Field].writable {
				return nil, fmt.Errorf("%s is read-only", e.value)
			}
			if sf.Bits != 1 {
				return nil, fmt.Errorf("result_dst in 'learn' action must be a single bit")
			}
			l.ResultDst = sf
		case "load":
			src, dst, ok := strings.Cut(e.value, "->")
			if !ok || src == "" {
				return nil, fmt.Errorf("learn load:%s: missing `->'", e.value)
			}
			d, err := parseSubfield(dst)
			if err != nil {
				return nil, fmt.Errorf("learn load: %w", err)
			}
			if !specs[d.Field].writable {
				return nil, fmt.Errorf("learn load: %s is read-only", dst)
			}
			spec := LearnSpec{Kind: LearnLoad, Dst: d}
			if startsWithDigit(src) {
				if spec.Imm, err = parseInt(src); err != nil {
					return nil, fmt.Errorf("learn load: %w", err)
				}
				if spec.Imm.bitLen() > int(d.Bits) {
					return nil, fmt.Errorf("learn load:%s: value does not fit into %d bits", e.value, d.Bits)
				}
			} else {
				if spec.Src, err = parseSubfield(src); err != nil {
					return nil, fmt.Errorf("learn load: %w", err)
				}
				if spec.Src.Bits != d.Bits {
					return nil, fmt.Errorf("learn load:%s: source field is %d bits wide but destination is %d bits wide", e.value, spec.Src.Bits, d.Bits)
				}
			}
			l.Specs = append(l.Specs, spec)
		case "output":
			sf, err := parseSubfield(e.value)
			if err != nil {
				return nil, fmt.Errorf("learn output: %w", err)
			}
			l.Specs = append(l.Specs, LearnSpec{Kind: LearnOutput, Src: sf})
		default:
			if _, ok := protocols[e.key]; ok {
				return nil, fmt.Errorf("learn: unknown keyword %s (write eth_type=... and nw_proto=... in learn)", e.key)
			}
			d, err := parseSubfield(e.key)
			if err != nil {
				return nil, fmt.Errorf("learn: unknown keyword %s", e.key)
			}
			spec := LearnSpec{Kind: LearnMatch, Dst: d}
			switch {
			case e.value == "":
				spec.Src = d
			case !startsWithDigit(e.value) && strings.ContainsAny(e.value, "[") || isFieldName(e.value):
				if spec.Src, err = parseSubfield(e.value); err != nil {
					return nil, fmt.Errorf("learn %s=%s: %w", e.key, e.value, err)
				}
				if spec.Src.Bits != d.Bits {
					return nil, fmt.Errorf("learn %s=%s: bit widths of %s (%d) and %s (%d) differ", e.key, e.value, e.key, d.Bits, e.value, spec.Src.Bits)
				}
			case d.Ofs == 0 && d.Bits == d.Field.Width():
				val, mask, err := parseValue(d.Field, e.value)
				if err != nil {
					return nil, fmt.Errorf("learn %s=%s: %w", e.key, e.value, err)
				}
				if mask != ones(specs[d.Field].bits) && !(d.Field == FieldInPort) {
					return nil, fmt.Errorf("learn %s=%s: masks are not allowed in learn", e.key, e.value)
				}
				spec.Imm = val
			default:
				if spec.Imm, err = parseInt(e.value); err != nil {
					return nil, fmt.Errorf("learn %s=%s: cannot parse integer value", e.key, e.value)
				}
				if spec.Imm.bitLen() > int(d.Bits) {
					return nil, fmt.Errorf("learn %s=%s: value does not fit into %d bits", e.key, e.value, d.Bits)
				}
			}
			l.Specs = append(l.Specs, spec)
		}
	}
	return l, nil
}

func isFieldName(s string) bool {
	_, ok := lookupField(s)
	return ok
}

// --- printing ---

// String implements Action.
func (a *Output) String() string {
	if a.Port == PortController {
		return fmt.Sprintf("CONTROLLER:%d", a.MaxLen)
	}
	if a.Port >= PortUnset {
		return formatPort(a.Port)
	}
	return "output:" + formatPort(a.Port)
}

// String implements Action.
func (a *OutputReg) String() string { return "output:" + a.Src.String() }

// String implements Action.
func (a *Controller) String() string {
	if a.Reason == ReasonAction && a.ID == 0 && len(a.UserData) == 0 && !a.Pause && a.Meter == 0 {
		return fmt.Sprintf("CONTROLLER:%d", a.MaxLen)
	}
	var parts []string
	if a.Reason != ReasonAction && int(a.Reason) < len(reasonNames) {
		parts = append(parts, "reason="+reasonNames[a.Reason])
	}
	if a.MaxLen != 0xffff {
		parts = append(parts, fmt.Sprintf("max_len=%d", a.MaxLen))
	}
	if a.ID != 0 {
		parts = append(parts, fmt.Sprintf("id=%d", a.ID))
	}
	if len(a.UserData) > 0 {
		parts = append(parts, "userdata="+formatHexBytes(a.UserData))
	}
	if a.Pause {
		parts = append(parts, "pause")
	}
	if a.Meter != 0 {
		parts = append(parts, fmt.Sprintf("meter_id=%d", a.Meter))
	}
	return "controller(" + strings.Join(parts, ",") + ")"
}

// String implements Action.
func (a *SetField) String() string {
	if a.legacy != "" {
		return a.legacy + ":" + strconv.FormatUint(a.Value.Lo, 10)
	}
	m := a.Mask
	return "set_field:" + formatValue(a.Field, a.Value, &m) + "->" + specs[a.Field].name
}

// String implements Action.
func (a *Move) String() string { return "move:" + a.Src.String() + "->" + a.Dst.String() }

// String implements Action.
func (a *Resubmit) String() string {
	if a.Port != PortInPort && a.Table == TableNone && !a.CT {
		return "resubmit:" + formatPort(a.Port)
	}
	s := "resubmit("
	if a.Port != PortInPort {
		s += formatPort(a.Port)
	}
	s += ","
	if a.Table != TableNone {
		s += strconv.Itoa(int(a.Table))
	}
	if a.CT {
		s += ",ct"
	}
	return s + ")"
}

// String implements Action.
func (a *CT) String() string {
	var parts []string
	if a.Commit {
		parts = append(parts, "commit")
	}
	if a.Force {
		parts = append(parts, "force")
	}
	if a.Table != TableNone {
		parts = append(parts, fmt.Sprintf("table=%d", a.Table))
	}
	if a.ZoneSrc.Bits != 0 {
		parts = append(parts, "zone="+a.ZoneSrc.String())
	} else if a.Zone != 0 {
		parts = append(parts, fmt.Sprintf("zone=%d", a.Zone))
	}
	if a.NAT != nil {
		parts = append(parts, a.NAT.String())
	}
	if len(a.Exec) > 0 {
		parts = append(parts, "exec("+formatActions(a.Exec)+")")
	}
	switch a.Alg {
	case 0:
	case 21:
		parts = append(parts, "alg=ftp")
	case 69:
		parts = append(parts, "alg=tftp")
	default:
		parts = append(parts, fmt.Sprintf("alg=%d", a.Alg))
	}
	return "ct(" + strings.Join(parts, ",") + ")"
}

// String returns the nat(...) argument of ct as OVS prints it.
func (n *NAT) String() string {
	if !n.Src && !n.Dst {
		return "nat"
	}
	s := "nat(" + pick(n.Src, "src", "dst")
	if n.MinAddr.IsValid() {
		addr := func(a netip.Addr) string {
			if a.Is4() {
				return a.String()
			}
			if n.MinPort != 0 {
				return "[" + formatIPv6(ipv6Value(a)) + "]"
			}
			return formatIPv6(ipv6Value(a))
		}
		s += "=" + addr(n.MinAddr)
		if n.MaxAddr.IsValid() && n.MaxAddr != n.MinAddr {
			s += "-" + addr(n.MaxAddr)
		}
		if n.MinPort != 0 {
			s += fmt.Sprintf(":%d", n.MinPort)
			if n.MaxPort != 0 && n.MaxPort != n.MinPort {
				s += fmt.Sprintf("-%d", n.MaxPort)
			}
		}
		if n.Persistent {
			s += ",persistent"
		}
		if n.Hash {
			s += ",hash"
		}
		if n.Random {
			s += ",random"
		}
	}
	return s + ")"
}

// String implements Action.
func (*CTClear) String() string { return "ct_clear" }

// String implements Action.
func (a *Group) String() string { return fmt.Sprintf("group:%d", a.GroupID) }

// String implements Action.
func (a *Meter) String() string { return fmt.Sprintf("meter:%d", a.MeterID) }

// String implements Action.
func (a *Conjunction) String() string {
	return fmt.Sprintf("conjunction(%d,%d/%d)", a.ID, a.Clause, a.NClauses)
}

// String implements Action.
func (a *DecTTL) String() string {
	if len(a.IDs) == 0 {
		return "dec_ttl"
	}
	ids := make([]string, len(a.IDs))
	for i, id := range a.IDs {
		ids[i] = strconv.Itoa(int(id))
	}
	return "dec_ttl(" + strings.Join(ids, ",") + ")"
}

// String implements Action.
func (a *PushVLAN) String() string { return fmt.Sprintf("push_vlan:%#x", a.EthType) }

// String implements Action.
func (*PopVLAN) String() string { return "pop_vlan" }

// String implements Action.
func (a *Note) String() string { return "note:" + formatHexBytes(a.Data) }

// String implements Action.
func (l *Learn) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "learn(table=%d", l.Table)
	if l.IdleTimeout != 0 {
		fmt.Fprintf(&b, ",idle_timeout=%d", l.IdleTimeout)
	}
	if l.HardTimeout != 0 {
		fmt.Fprintf(&b, ",hard_timeout=%d", l.HardTimeout)
	}
	if l.FinIdle != 0 {
		fmt.Fprintf(&b, ",fin_idle_timeout=%d", l.FinIdle)
	}
	if l.FinHard != 0 {
		fmt.Fprintf(&b, ",fin_hard_timeout=%d", l.FinHard)
	}
	if l.Priority != DefaultPriority {
		fmt.Fprintf(&b, ",priority=%d", l.Priority)
	}
	if l.SendFlowRem {
		b.WriteString(",send_flow_rem")
	}
	if l.DeleteLearned {
		b.WriteString(",delete_learned")
	}
	if l.Cookie != 0 {
		fmt.Fprintf(&b, ",cookie=%#x", l.Cookie)
	}
	if l.Limit != 0 {
		fmt.Fprintf(&b, ",limit=%d", l.Limit)
	}
	if l.ResultDst.Bits != 0 {
		b.WriteString(",result_dst=" + l.ResultDst.String())
	}
	for _, s := range l.Specs {
		b.WriteByte(',')
		switch {
		case s.Kind == LearnMatch && s.Src.Bits == 0:
			if s.Dst.Ofs == 0 && s.Dst.Bits == s.Dst.Field.Width() {
				b.WriteString(specs[s.Dst.Field].name + "=" + formatValue(s.Dst.Field, s.Imm, nil))
			} else {
				b.WriteString(s.Dst.String() + "=" + s.Imm.hex())
			}
		case s.Kind == LearnMatch:
			b.WriteString(s.Dst.String())
			if s.Src.Field != s.Dst.Field || s.Src.Ofs != s.Dst.Ofs {
				b.WriteString("=" + s.Src.String())
			}
		case s.Kind == LearnLoad && s.Src.Bits == 0:
			b.WriteString("load:" + s.Imm.hex() + "->" + s.Dst.String())
		case s.Kind == LearnLoad:
			b.WriteString("load:" + s.Src.String() + "->" + s.Dst.String())
		case s.Kind == LearnOutput:
			b.WriteString("output:" + s.Src.String())
		}
	}
	b.WriteByte(')')
	return b.String()
}

// formatActions prints an action list, "drop" when empty.
func formatActions(acts []Action) string {
	if len(acts) == 0 {
		return "drop"
	}
	parts := make([]string, len(acts))
	for i, a := range acts {
		parts[i] = a.String()
	}
	return strings.Join(parts, ",")
}

// String prints the instructions as dump-flows does after "actions=".
func (ins *Instructions) String() string {
	var parts []string
	for _, a := range ins.Apply {
		parts = append(parts, a.String())
	}
	if ins.ClearActions {
		parts = append(parts, "clear_actions")
	}
	if len(ins.Write) > 0 {
		parts = append(parts, "write_actions("+formatActions(ins.Write)+")")
	}
	if ins.HasWriteMetadata {
		s := "write_metadata:" + Value{Lo: ins.WriteMetadata}.hex()
		if ins.WriteMetadataMask != ^uint64(0) {
			s += "/" + Value{Lo: ins.WriteMetadataMask}.hex()
		}
		parts = append(parts, s)
	}
	if ins.HasGotoTable {
		parts = append(parts, fmt.Sprintf("goto_table:%d", ins.GotoTable))
	}
	if len(parts) == 0 {
		return "drop"
	}
	return strings.Join(parts, ",")
}

var (
	_ Action = (*Output)(nil)
	_ Action = (*OutputReg)(nil)
	_ Action = (*Controller)(nil)
	_ Action = (*SetField)(nil)
	_ Action = (*Move)(nil)
	_ Action = (*Resubmit)(nil)
	_ Action = (*CT)(nil)
	_ Action = (*CTClear)(nil)
	_ Action = (*Group)(nil)
	_ Action = (*Meter)(nil)
	_ Action = (*Conjunction)(nil)
	_ Action = (*DecTTL)(nil)
	_ Action = (*PushVLAN)(nil)
	_ Action = (*PopVLAN)(nil)
	_ Action = (*Note)(nil)
	_ Action = (*Learn)(nil)
)
