package flow

import (
	"errors"
	"fmt"
)

// satisfies reports whether the match establishes prerequisite p. vlan overrides the match's
// VLAN presence after push_vlan/pop_vlan (0: from the match, 1: present, 2: absent).
func (m *Match) satisfies(p prereq, vlan int) bool {
	et := m.ethType()
	ipAny := et == EthTypeIPv4 || et == EthTypeIPv6
	proto, exactProto := m.ipProto()
	l4 := func(want uint8) bool { return ipAny && exactProto && proto == want }
	nd := func() bool {
		if !(et == EthTypeIPv6 && exactProto && proto == IPProtoICMPv6) {
			return false
		}
		if m.Mask.Get(FieldTpSrc)&0xff != 0xff {
			return false
		}
		t := m.Key.Get(FieldTpSrc)
		return t == 135 || t == 136
	}
	switch p {
	case preNone:
		return true
	case preIPv4:
		return et == EthTypeIPv4
	case preIPv6:
		return et == EthTypeIPv6
	case preIPAny:
		return ipAny
	case preARP:
		return et == EthTypeARP || et == EthTypeRARP
	case preVLAN:
		switch vlan {
		case 1:
			return true
		case 2:
			return false
		}
		return m.Mask.Get(FieldVLANTCI)&0x1000 != 0 && m.Key.Get(FieldVLANTCI)&0x1000 != 0
	case preTCP:
		return l4(IPProtoTCP)
	case preUDP:
		return l4(IPProtoUDP)
	case preSCTP:
		return l4(IPProtoSCTP)
	case preL4:
		return l4(IPProtoTCP) || l4(IPProtoUDP) || l4(IPProtoSCTP)
	case preICMPv4:
		return et == EthTypeIPv4 && l4(IPProtoICMP)
	case preICMPv6:
		return et == EthTypeIPv6 && l4(IPProtoICMPv6)
	case preND:
		return nd()
	case preNDSolicit:
		return nd() && m.Key.Get(FieldTpSrc) == 135
	case preNDAdvert:
		return nd() && m.Key.Get(FieldTpSrc) == 136
	case preCT, preCTIPv4:
		st, sm := m.Key.Get(FieldCtState), m.Mask.Get(FieldCtState)
		valid := st&(CtNew|CtEst|CtRel|CtRpl|CtSNAT|CtDNAT) != 0 ||
			(st&CtTrk != 0 && sm&CtInv != 0 && st&CtInv == 0)
		return valid && (p == preCT || et == EthTypeIPv4)
	case preCTProto:
		return m.exact(FieldCtNwProto)
	}
	return false
}

// matchChecks lists, for each Key slot a match may name, the name errors use, the
// prerequisite, and whether the slot must be matched exactly.
var matchChecks = []struct {
	f     Field
	name  string
	pre   prereq
	exact bool
}{
	{FieldInPort, "in_port", preNone, true},
	{FieldEthType, "dl_type", preNone, true},
	{FieldConjID, "conj_id", preNone, true},
	{FieldCtZone, "ct_zone", preNone, true},
	{FieldCtNwProto, "ct_nw_proto", preCT, true},
	{FieldCtNwSrc, "ct_nw_src", preCTIPv4, false},
	{FieldCtNwDst, "ct_nw_dst", preCTIPv4, false},
	{FieldCtTpSrc, "ct_tp_src", preCTProto, false},
	{FieldCtTpDst, "ct_tp_dst", preCTProto, false},
	{FieldNwTOS, "nw_tos", preIPAny, false},
	{FieldNwTTL, "nw_ttl", preIPAny, true},
	{FieldNwFrag, "nw_frag", preIPAny, false},
	{FieldTCPFlags, "tcp_flags", preTCP, false},
	{FieldIPv6Src, "ipv6_src", preIPv6, false},
	{FieldIPv6Dst, "ipv6_dst", preIPv6, false},
	{FieldIPv6Label, "ipv6_label", preIPv6, false},
	{FieldNdTarget, "nd_target", preND, false},
}

// Validate checks the match on its own: values only where the mask has bits, exact matches for
// fields OVS cannot mask, and every field's prerequisites (nw_src needs ip or arp, tp_dst needs
// tcp/udp/sctp, ...), as ovs-ofctl and the switch enforce them.
func (m *Match) Validate() error {
	for i := range m.Key.W {
		if m.Key.W[i]&^m.Mask.W[i] != 0 {
			return fmt.Errorf("match value has bits outside its mask (word %d)", i)
		}
	}
	if m.Mask.Get(FieldCtState)&^ctAll != 0 {
		return fmt.Errorf("ct_state: only the low 8 bits (new, est, rel, rpl, inv, trk, snat, dnat) exist")
	}
	if m.Mask.Get(FieldTCPFlags) != 0 && m.Mask.Get(FieldTCPFlags)&^tcpAll != 0 {
		return fmt.Errorf("tcp_flags: only 12 bits exist")
	}
	if tm, tv := m.Mask.Get(FieldVLANTCI), m.Key.Get(FieldVLANTCI); tm&0x1000 != 0 && tv&0x1000 == 0 && tv != 0 {
		return fmt.Errorf("vlan_tci=0x%04x/0x%04x: a match on \"no VLAN\" (0x1000 clear) cannot match VID or PCP bits", tv, tm)
	}
	for _, c := range matchChecks {
		if !m.has(c.f) {
			continue
		}
		if c.exact && !m.exact(c.f) {
			return fmt.Errorf("%s: field does not support masking", c.name)
		}
		if !m.satisfies(c.pre, 0) {
			return fmt.Errorf("%s requires %s in the match", c.name, prereqText[c.pre])
		}
	}
	et := m.ethType()
	isARP := et == EthTypeARP || et == EthTypeRARP
	proto, _ := m.ipProto()
	if m.has(FieldNwSrc) || m.has(FieldNwDst) {
		if !isARP && et != EthTypeIPv4 {
			name := pick(m.has(FieldNwSrc), "nw_src", "nw_dst")
			return fmt.Errorf("%s requires ip (dl_type=0x0800) or arp in the match", name)
		}
	}
	if m.has(FieldNwProto) {
		if !m.exact(FieldNwProto) {
			return fmt.Errorf("nw_proto: field does not support masking")
		}
		if !isARP && !m.satisfies(preIPAny, 0) {
			return fmt.Errorf("nw_proto requires ip or ipv6 in the match")
		}
	}
	if m.has(FieldTpSrc) || m.has(FieldTpDst) {
		name := pick(m.has(FieldTpSrc), "tp_src", "tp_dst")
		icmp := (et == EthTypeIPv4 && proto == IPProtoICMP) || (et == EthTypeIPv6 && proto == IPProtoICMPv6)
		if !m.satisfies(preL4, 0) && !(icmp && m.exact(FieldNwProto)) {
			return fmt.Errorf("%s requires tcp, udp, sctp or icmp (ip or ipv6 with nw_proto 6, 17, 132, 1 or 58) in the match", name)
		}
	}
	if icmp := (et == EthTypeIPv4 && proto == IPProtoICMP) || (et == EthTypeIPv6 && proto == IPProtoICMPv6); icmp {
		for _, f := range []Field{FieldTpSrc, FieldTpDst} {
			if mk := m.Mask.Get(f); mk != 0 && mk != 0xffff {
				return fmt.Errorf("%s: field does not support masking", pick(f == FieldTpSrc, "icmp_type", "icmp_code"))
			}
		}
	}
	if m.has(FieldArpSha) && !isARP && !m.satisfies(preNDSolicit, 0) {
		return fmt.Errorf("arp_sha/nd_sll requires arp, or icmp6 with icmp_type=135, in the match")
	}
	if m.has(FieldArpTha) && !isARP && !m.satisfies(preNDAdvert, 0) {
		return fmt.Errorf("arp_tha/nd_tll requires arp, or icmp6 with icmp_type=136, in the match")
	}
	return nil
}

// Validate checks that the flow is consistent, as ovs-ofctl and ovs-vswitchd do before they
// accept it: a valid match (Match.Validate), a goto_table that moves forward, and actions whose
// fields the match establishes (set_field:...->nw_dst needs ip), in range (no load beyond a
// field's width, no value bits outside a set_field mask, no output to port 0), and combined
// legally (conjunction only with note, ct nat/exec only with commit).
func (f *Flow) Validate() error {
	if err := f.validate(); err != nil {
		return fmt.Errorf("flow %q: %w", f.String(), err)
	}
	return nil
}

func (f *Flow) validate() error {
	if f.Table >= 254 {
		return fmt.Errorf("table %d is reserved (OpenFlow's table 255 is \"all tables\"; OVS keeps 254 for itself)", f.Table)
	}
	if err := f.Match.Validate(); err != nil {
		return err
	}
	ins := &f.Instructions
	if ins.HasGotoTable && ins.GotoTable <= f.Table {
		return fmt.Errorf("goto_table:%d does not move forward from table %d (OFPBIC_BAD_TABLE_ID)", ins.GotoTable, f.Table)
	}
	if ins.HasGotoTable && ins.GotoTable >= 254 {
		return fmt.Errorf("goto_table:%d: table is reserved", ins.GotoTable)
	}
	for i, a := range ins.Apply {
		if _, ok := a.(*Meter); ok && i != 0 {
			return errors.New("invalid instruction ordering: meter must appear before apply_actions, for OpenFlow 1.1+ compatibility")
		}
	}
	nConj, nOther := 0, 0
	for _, a := range ins.Apply {
		switch a.(type) {
		case *Conjunction:
			nConj++
		case *Note:
		default:
			nOther++
		}
	}
	if nConj > 0 && (nOther > 0 || ins.ClearActions || ins.Write != nil || ins.HasWriteMetadata || ins.HasGotoTable) {
		return errors.New("\"conjunction\" actions may be used along with \"note\" but not any other kind of action or instruction")
	}
	if err := checkActions(ins.Apply, &f.Match, 0); err != nil {
		return err
	}
	return checkActions(ins.Write, &f.Match, 0)
}

// checkActions checks an action list against the match (vlan as in satisfies).
func checkActions(acts []Action, m *Match, vlan int) error {
	need := func(what string, f Field, extra prereq) error {
		p := specs[f].pre
		if !m.satisfies(p, vlan) {
			return fmt.Errorf("%s: field %s requires %s in the match", what, specs[f].name, prereqText[p])
		}
		if extra != preNone && !m.satisfies(extra, vlan) {
			return fmt.Errorf("%s requires %s in the match", what, prereqText[extra])
		}
		return nil
	}
	for _, a := range acts {
		var err error
		switch a := a.(type) {
		case *Output:
			switch {
			case a.Port == 0:
				err = errors.New("output to port 0 is not allowed (port 0 is not a valid OpenFlow port)")
			case a.Port >= 0xff00 && a.Port < PortUnset:
				err = fmt.Errorf("output:%d: port is outside the supported range", a.Port)
			case a.Port == PortAny || a.Port == PortUnset:
				err = fmt.Errorf("output:%s: not a valid output port", formatPort(a.Port))
			}
		case *OutputReg:
			err = checkSubfield("output", a.Src, m, vlan)
		case *Controller:
		case *SetField:
			if !a.Field.Writable() {
				err = fmt.Errorf("set_field: %s is read-only", specs[a.Field].name)
			} else if a.Value.andNot(a.Mask) != (Value{}) {
				err = fmt.Errorf("%s: value has bits outside its mask (OFPBMC_BAD_WILDCARDS)", a)
			} else if a.Mask.isZero() {
				err = fmt.Errorf("%s: mask is zero", a)
			} else if w := a.Field.valueWidth(); a.Mask.bitLen() > int(w) || a.Value.bitLen() > int(w) {
				err = fmt.Errorf("%s: value does not fit in %s's %d bits", a, specs[a.Field].name, w)
			} else {
				err = need(a.String(), a.Field, preNone)
			}
		case *Move:
			if a.Src.Bits != a.Dst.Bits {
				err = fmt.Errorf("%s: source field is %d bits wide but destination is %d bits wide", a, a.Src.Bits, a.Dst.Bits)
			} else if !a.Dst.Field.Writable() {
				err = fmt.Errorf("%s: destination field %s is read-only", a, specs[a.Dst.Field].name)
			} else if err = checkSubfield(a.String(), a.Src, m, vlan); err == nil {
				err = checkSubfield(a.String(), a.Dst, m, vlan)
			}
		case *Resubmit:
			if a.Port == PortInPort && a.Table == TableNone {
				err = errors.New("resubmit: at least one \"in_port\" or \"table\" must be specified")
			} else if a.CT && !m.satisfies(preCT, vlan) {
				err = fmt.Errorf("%s requires %s in the match", a, prereqText[preCT])
			}
		case *CT:
			err = checkCT(a, m, vlan)
		case *DecTTL:
			if !m.satisfies(preIPAny, vlan) {
				err = fmt.Errorf("dec_ttl requires ip or ipv6 in the match")
			}
		case *PushVLAN:
			vlan = 1
		case *PopVLAN:
			if !m.satisfies(preVLAN, vlan) {
				err = fmt.Errorf("pop_vlan requires %s in the match or a push_vlan before it", prereqText[preVLAN])
			}
			vlan = 2
		case *Learn:
			err = checkLearn(a, m, vlan)
		case *Conjunction:
			if a.NClauses < 2 || a.Clause < 1 || a.Clause > a.NClauses {
				err = fmt.Errorf("%s: clause must be 1 through n, and n at least 2", a)
			}
		}
		if err != nil {
			return err
		}
		if sf, ok := a.(*SetField); ok && (sf.Field == FieldVLANVID || sf.Field == FieldVLANPCP || sf.Field == FieldVLANTCI) {
			if !m.satisfies(preVLAN, vlan) {
				return fmt.Errorf("%s requires %s in the match or a push_vlan before it", sf, prereqText[preVLAN])
			}
		}
	}
	return nil
}

func checkSubfield(what string, s Subfield, m *Match, vlan int) error {
	if s.Field >= NumFields {
		return fmt.Errorf("%s: unknown field", what)
	}
	if s.Bits == 0 || int(s.Ofs)+int(s.Bits) > int(s.Field.Width()) {
		return fmt.Errorf("%s: %s: bits %d..%d are beyond the field's %d bits", what, s.Field.NXMName(), s.Ofs, int(s.Ofs)+int(s.Bits)-1, s.Field.Width())
	}
	if p := specs[s.Field].pre; !m.satisfies(p, vlan) {
		return fmt.Errorf("%s: field %s requires %s in the match", what, specs[s.Field].name, prereqText[p])
	}
	return nil
}

func checkCT(c *CT, m *Match, vlan int) error {
	if !m.satisfies(preIPAny, vlan) {
		return errors.New("ct requires ip or ipv6 in the match")
	}
	if c.ZoneSrc.Bits != 0 {
		if c.ZoneSrc.Bits != 16 {
			return fmt.Errorf("ct zone=%s: the zone field must be 16 bits wide", c.ZoneSrc)
		}
		if err := checkSubfield("ct zone", c.ZoneSrc, m, vlan); err != nil {
			return err
		}
	}
	if c.NAT != nil && (c.NAT.Src || c.NAT.Dst) && !c.Commit {
		return errors.New("ct: nat with src or dst requires commit")
	}
	if c.NAT != nil && c.NAT.MinAddr.IsValid() {
		if c.NAT.MinAddr.Is4() != (m.ethType() == EthTypeIPv4) {
			return errors.New("ct: nat address family differs from the match's (ip or ipv6)")
		}
	}
	if len(c.Exec) > 0 && !c.Commit {
		return errors.New("ct: exec requires commit")
	}
	for _, a := range c.Exec {
		if !isCTExecAction(a) {
			return fmt.Errorf("ct exec: %s: only set_field, load or move into ct_mark and ct_label is allowed", a)
		}
	}
	if err := checkActions(c.Exec, m, vlan); err != nil {
		return fmt.Errorf("ct exec: %w", err)
	}
	switch c.Alg {
	case 0:
	case 21:
		if !m.satisfies(preTCP, vlan) {
			return errors.New("ct alg=ftp requires tcp in the match")
		}
	case 69:
		if !m.satisfies(preUDP, vlan) {
			return errors.New("ct alg=tftp requires udp in the match")
		}
	default:
		return fmt.Errorf("ct alg=%d: unknown ALG", c.Alg)
	}
	return nil
}

func checkLearn(l *Learn, m *Match, vlan int) error {
	if l.Table == TableNone {
		return errors.New("learn: table id 255 not valid for `learn' action")
	}
	// The learned flow's match, built as OVS's learn_check builds it: only immediate values
	// establish prerequisites for later specs (a field copied from the packet does not).
	var learned Match
	for _, s := range l.Specs {
		if s.Src.Bits != 0 {
			if err := checkSubfield("learn", s.Src, m, vlan); err != nil {
				return err
			}
		}
		switch s.Kind {
		case LearnMatch:
			if s.Dst.Bits == 0 || int(s.Dst.Ofs)+int(s.Dst.Bits) > int(s.Dst.Field.Width()) {
				return fmt.Errorf("learn: %s: bits beyond the field's width", s.Dst)
			}
			if p := specs[s.Dst.Field].pre; !learned.satisfies(p, 0) {
				return fmt.Errorf("learn: %s: the learned flow matches %s without %s", l, specs[s.Dst.Field].name, prereqText[p])
			}
			if s.Src.Bits == 0 {
				learned.setLearned(s.Dst, s.Imm)
			}
		case LearnLoad:
			if !s.Dst.Field.Writable() {
				return fmt.Errorf("learn: load to read-only field %s", specs[s.Dst.Field].name)
			}
			if p := specs[s.Dst.Field].pre; !learned.satisfies(p, 0) {
				return fmt.Errorf("learn: %s: the learned flow loads %s without matching %s", l, specs[s.Dst.Field].name, prereqText[p])
			}
			if s.Src.Bits == 0 && s.Imm.bitLen() > int(s.Dst.Bits) {
				return fmt.Errorf("learn: load:%s->%s: value does not fit", s.Imm.hex(), s.Dst)
			}
		}
	}
	return nil
}

// setLearned records a learned match value in the scratch match used for prerequisites.
func (m *Match) setLearned(s Subfield, v Value) {
	f := s.Field
	switch f {
	case FieldTCPSrc, FieldUDPSrc, FieldSCTPSrc, FieldIcmpv6Type:
		f = FieldTpSrc
	case FieldTCPDst, FieldUDPDst, FieldSCTPDst, FieldIcmpv6Code:
		f = FieldTpDst
	}
	if f.Info().Bits == 128 || s.Ofs+s.Bits > 64 {
		return
	}
	mask := ones(s.Bits).shl(s.Ofs).Lo
	m.Set(f, v.shl(s.Ofs).Lo, mask)
	if f == FieldTpSrc && s.Bits == s.Field.Width() {
		m.Set(f, v.Lo, f.Info().Mask64())
	}
}
