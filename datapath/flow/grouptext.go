package flow

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

var groupTypeNames = []string{"all", "select", "indirect", "ff"}

// mffOrder ranks fields in OVS's mf_field_id order, the order in which a select group's
// fields(...) print.
var mffOrder = func() [NumFields]int {
	order := []Field{
		FieldConjID, FieldTunID, FieldTunSrc, FieldTunDst, FieldMetadata, FieldInPort,
		FieldPktMark, FieldCtState, FieldCtZone, FieldCtMark, FieldCtLabel, FieldCtNwProto,
		FieldCtNwSrc, FieldCtNwDst, FieldCtTpSrc, FieldCtTpDst,
		FieldReg0, FieldReg1, FieldReg2, FieldReg3, FieldReg4, FieldReg5, FieldReg6, FieldReg7,
		FieldReg8, FieldReg9, FieldReg10, FieldReg11, FieldReg12, FieldReg13, FieldReg14, FieldReg15,
		FieldXReg0, FieldXReg1, FieldXReg2, FieldXReg3, FieldXReg4, FieldXReg5, FieldXReg6, FieldXReg7,
		FieldXXReg0, FieldXXReg1, FieldXXReg2, FieldXXReg3,
		FieldEthSrc, FieldEthDst, FieldEthType, FieldVLANTCI, FieldVLANVID, FieldVLANPCP,
		FieldNwSrc, FieldNwDst, FieldIPv6Src, FieldIPv6Dst, FieldIPv6Label, FieldNwProto,
		FieldNwTOS, FieldIPDSCP, FieldNwECN, FieldNwTTL, FieldNwFrag,
		FieldArpOp, FieldArpSpa, FieldArpTpa, FieldArpSha, FieldArpTha,
		FieldTCPSrc, FieldTCPDst, FieldTCPFlags, FieldUDPSrc, FieldUDPDst, FieldSCTPSrc, FieldSCTPDst,
		FieldIcmpType, FieldIcmpCode, FieldIcmpv6Type, FieldIcmpv6Code,
		FieldNdTarget, FieldNdSll, FieldNdTll,
	}
	var r [NumFields]int
	for i := range r {
		r[i] = 1000 + i
	}
	for i, f := range order {
		r[f] = i
	}
	return r
}()

// ParseGroup parses one group in ovs-ofctl add-group syntax:
//
//	group_id=1,type=select,selection_method=hash,fields(ip_src,tcp_dst),
//	bucket=bucket_id:0,weight:10,actions=output:1,bucket=...
//
// Buckets without bucket_id are numbered after the previous one (from 0), as OVS does.
func ParseGroup(s string) (*GroupEntry, error) {
	g, err := parseGroup(s)
	if err != nil {
		return nil, fmt.Errorf("group %q: %w", strings.TrimSpace(s), err)
	}
	return g, nil
}

// ParseGroups parses one group per line (add-groups file syntax); blank lines and '#'
// comments are skipped.
func ParseGroups(r io.Reader) ([]*GroupEntry, error) { return parseLines(r, "groups", ParseGroup) }

func parseGroup(s string) (*GroupEntry, error) {
	g := &GroupEntry{Type: GroupAll}
	head, bucketText, _ := strings.Cut(s, "bucket=")
	var bucketStrs []string
	if bucketText != "" || strings.Contains(s, "bucket=") {
		bucketStrs = strings.Split(bucketText, "bucket=")
	}
	elems, err := splitList(head)
	if err != nil {
		return nil, err
	}
	haveID, haveType := false, false
	for _, e := range elems {
		switch e.key {
		case "group_id":
			if g.ID, err = parseU32(e.value, "group_id"); err != nil {
				return nil, err
			}
			if g.ID > 0xffffff00 {
				return nil, fmt.Errorf("group_id %d is reserved", g.ID)
			}
			haveID = true
		case "type":
			found := false
			for i, n := range groupTypeNames {
				if e.value == n || (i == int(GroupFastFailover) && e.value == "fast_failover") {
					g.Type, found = GroupType(i), true
				}
			}
			if !found {
				return nil, fmt.Errorf("type=%s: unknown group type", e.value)
			}
			haveType = true
		case "selection_method":
			if e.value != "hash" && e.value != "dp_hash" {
				return nil, fmt.Errorf("selection_method=%s: invalid (hash or dp_hash)", e.value)
			}
			g.SelectionMethod = e.value
		case "selection_method_param":
			v, err := parseInt(e.value)
			if err != nil || v.Hi != 0 {
				return nil, fmt.Errorf("selection_method_param=%s: not a 64-bit number", e.value)
			}
			g.SelectionParam = v.Lo
		case "fields":
			list := e.value
			fl, err := splitList(list)
			if err != nil {
				return nil, err
			}
			for _, fe := range fl {
				f, ok := lookupField(fe.key)
				if !ok {
					return nil, fmt.Errorf("fields: %s: unknown field", fe.key)
				}
				hf := HashField{Field: f}
				if fe.value != "" {
					v, _, err := parseValue(f, fe.value)
					if err != nil {
						return nil, fmt.Errorf("fields: %s: %w", fe.key, err)
					}
					if v != ones(specs[f].bits) {
						hf.Mask = v
					}
				}
				g.Fields = append(g.Fields, hf)
			}
		default:
			return nil, fmt.Errorf("unknown keyword %s", e.key)
		}
	}
	if !haveID {
		return nil, fmt.Errorf("must specify a group_id")
	}
	if !haveType {
		return nil, fmt.Errorf("must specify a type")
	}
	if (g.SelectionMethod != "" || g.SelectionParam != 0 || len(g.Fields) > 0) && g.Type != GroupSelect {
		return nil, fmt.Errorf("selection_method and fields are only valid for select groups")
	}
	if (g.SelectionParam != 0 || len(g.Fields) > 0) && g.SelectionMethod == "" {
		return nil, fmt.Errorf("selection_method_param and fields require selection_method")
	}
	sort.SliceStable(g.Fields, func(i, j int) bool { return mffOrder[g.Fields[i].Field] < mffOrder[g.Fields[j].Field] })
	next := uint32(0)
	for _, bs := range bucketStrs {
		b, err := parseBucket(strings.TrimRight(strings.TrimSpace(bs), ","), g.Type)
		if err != nil {
			return nil, err
		}
		if b.ID == BucketIDNone {
			b.ID = next
		}
		next = b.ID + 1
		g.Buckets = append(g.Buckets, b)
	}
	if g.Type == GroupIndirect && len(g.Buckets) != 1 {
		return nil, fmt.Errorf("an indirect group must have exactly one bucket")
	}
	return g, nil
}

func parseBucket(s string, t GroupType) (Bucket, error) {
	b := Bucket{ID: BucketIDNone, WatchPort: PortAny, WatchGroup: 0xffffffff}
	if t == GroupSelect {
		b.Weight = 1
	}
	head, acts, hasActions := strings.Cut(s, "actions=")
	if !hasActions {
		head, acts = "", s
	}
	elems, err := splitList(head)
	if err != nil {
		return b, err
	}
	for _, e := range elems {
		switch e.key {
		case "bucket_id":
			if b.ID, err = parseU32(e.value, "bucket_id"); err != nil {
				return b, err
			}
			if b.ID > 0xffffff00 {
				return b, fmt.Errorf("bucket_id %d is reserved", b.ID)
			}
		case "weight":
			if b.Weight, err = parseU16(e.value, "weight"); err != nil {
				return b, err
			}
		case "watch_port":
			if b.WatchPort, err = parsePort(e.value); err != nil {
				return b, fmt.Errorf("watch_port: %w", err)
			}
		case "watch_group":
			if b.WatchGroup, err = parseU32(e.value, "watch_group"); err != nil {
				return b, err
			}
		default:
			return b, fmt.Errorf("bucket: unknown keyword %s", e.key)
		}
	}
	if b.Actions, err = parseActionList(acts); err != nil {
		return b, fmt.Errorf("bucket %s: %w", s, err)
	}
	for _, a := range b.Actions {
		if sf, ok := a.(*SetField); ok {
			sf.pushVLAN = false // no match to tell whether the packet has a VLAN header
		}
		// A bucket has no match to say which L4 protocol mod_tp_src/mod_tp_dst mean.
		if sf, ok := a.(*SetField); ok && sf.Field == FieldTpSrc {
			sf.Field = FieldTCPSrc
		} else if ok && sf.Field == FieldTpDst {
			sf.Field = FieldTCPDst
		}
	}
	for _, a := range b.Actions {
		if o, ok := a.(*Output); ok && o.Port == 0 {
			return b, fmt.Errorf("bucket %s: output to port 0 is not allowed", s)
		}
	}
	return b, nil
}

// String prints the group as ovs-ofctl dump-groups does (OpenFlow 1.5, with bucket ids).
func (g *GroupEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "group_id=%d", g.ID)
	if int(g.Type) < len(groupTypeNames) {
		b.WriteString(",type=" + groupTypeNames[g.Type])
	} else {
		b.WriteString(",type=unknown")
	}
	if g.SelectionMethod != "" {
		b.WriteString(",selection_method=" + g.SelectionMethod)
		if g.SelectionParam != 0 {
			fmt.Fprintf(&b, ",selection_method_param=%d", g.SelectionParam)
		}
		var fs []string
		for _, hf := range g.Fields {
			s := specs[hf.Field].name
			if !hf.Mask.isZero() && hf.Mask != ones(specs[hf.Field].bits) {
				s += "=" + formatValue(hf.Field, hf.Mask, nil)
			}
			fs = append(fs, s)
		}
		switch len(fs) {
		case 0:
		case 1:
			b.WriteString(",fields=" + fs[0])
		default:
			b.WriteString(",fields(" + strings.Join(fs, ",") + ")")
		}
	}
	for _, bk := range g.Buckets {
		fmt.Fprintf(&b, ",bucket=bucket_id:%d,", bk.ID)
		defWeight := uint16(0)
		if g.Type == GroupSelect {
			defWeight = 1
		}
		if bk.Weight != defWeight {
			fmt.Fprintf(&b, "weight:%d,", bk.Weight)
		}
		if bk.WatchPort != PortAny {
			fmt.Fprintf(&b, "watch_port:%s,", formatPort(bk.WatchPort))
		}
		if bk.WatchGroup != 0xffffffff {
			fmt.Fprintf(&b, "watch_group:%d,", bk.WatchGroup)
		}
		b.WriteString("actions=" + formatActions(bk.Actions))
	}
	return b.String()
}

// ParseMeter parses a meter in ovs-ofctl add-meter syntax:
// "meter=1,kbps,burst,stats,band=type=drop,rate=1000,burst_size=100".
func ParseMeter(s string) (*MeterEntry, error) {
	m, err := parseMeter(s)
	if err != nil {
		return nil, fmt.Errorf("meter %q: %w", strings.TrimSpace(s), err)
	}
	return m, nil
}

func parseMeter(s string) (*MeterEntry, error) {
	m := &MeterEntry{}
	head, bandText, _ := strings.Cut(s, "band=")
	var bandStrs []string
	if strings.Contains(s, "band=") {
		bandStrs = strings.Split(bandText, "band=")
	}
	elems, err := splitList(head)
	if err != nil {
		return nil, err
	}
	haveID := false
	for _, e := range elems {
		switch e.key {
		case "meter":
			if m.ID, err = parseU32(e.value, "meter"); err != nil {
				return nil, err
			}
			if m.ID == 0 || m.ID > 0xffff0000 {
				return nil, fmt.Errorf("meter=%s: meter id must be 1 through 0xffff0000", e.value)
			}
			haveID = true
		case "kbps":
			m.Flags |= MeterKbps
		case "pktps":
			m.Flags |= MeterPktps
		case "burst":
			m.Flags |= MeterBurst
		case "stats":
			m.Flags |= MeterStats
		default:
			return nil, fmt.Errorf("unknown keyword %s", e.key)
		}
	}
	if !haveID {
		return nil, fmt.Errorf("must specify a meter id (meter=N)")
	}
	if m.Flags&(MeterKbps|MeterPktps) == MeterKbps|MeterPktps {
		return nil, fmt.Errorf("kbps and pktps are mutually exclusive")
	}
	if m.Flags&(MeterKbps|MeterPktps) == 0 {
		m.Flags |= MeterKbps
	}
	for _, bs := range bandStrs {
		be, err := splitList(strings.TrimRight(bs, ", "))
		if err != nil {
			return nil, err
		}
		var band MeterBand
		haveRate := false
		for _, e := range be {
			switch e.key {
			case "type":
				switch e.value {
				case "drop":
					band.Type = BandDrop
				case "dscp_remark":
					band.Type = BandDSCPRemark
				default:
					return nil, fmt.Errorf("band type=%s: unknown band type", e.value)
				}
			case "rate":
				if band.Rate, err = parseU32(e.value, "rate"); err != nil {
					return nil, err
				}
				haveRate = true
			case "burst_size":
				if band.BurstSize, err = parseU32(e.value, "burst_size"); err != nil {
					return nil, err
				}
			case "prec_level":
				v, err := parseUintBits(e.value, 8)
				if err != nil {
					return nil, fmt.Errorf("prec_level: %w", err)
				}
				band.PrecLevel = uint8(v)
			default:
				return nil, fmt.Errorf("band: unknown keyword %s", e.key)
			}
		}
		if band.Type == 0 || !haveRate || band.Rate == 0 {
			return nil, fmt.Errorf("band %s: needs type= and a non-zero rate=", bs)
		}
		m.Bands = append(m.Bands, band)
	}
	return m, nil
}

// String prints the meter in add-meter syntax (one line; ovs-ofctl dump-meters spreads the
// same content over several lines).
func (m *MeterEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "meter=%d", m.ID)
	for i, n := range []string{"kbps", "pktps", "burst", "stats"} {
		if m.Flags&(1<<i) != 0 {
			b.WriteString("," + n)
		}
	}
	for _, band := range m.Bands {
		t := "drop"
		if band.Type == BandDSCPRemark {
			t = "dscp_remark"
		}
		fmt.Fprintf(&b, ",band=type=%s,rate=%d", t, band.Rate)
		if m.Flags&MeterBurst != 0 || band.BurstSize != 0 {
			fmt.Fprintf(&b, ",burst_size=%d", band.BurstSize)
		}
		if band.Type == BandDSCPRemark {
			fmt.Fprintf(&b, ",prec_level=%d", band.PrecLevel)
		}
	}
	return b.String()
}
