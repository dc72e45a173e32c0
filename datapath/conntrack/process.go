package conntrack

// Process runs packet p through the ct action a, as OVS's conntrack_execute does for one
// packet, and updates md, the packet's conntrack metadata: ct_state, zone, mark, label, the
// original tuple, the NAT rewrite to apply and, if a commit was refused, why.
//
//	cached conn in md, same zone ─▶ reuse it (no state update), maybe NAT
//	otherwise: key ─▶ lookup (reversed if already NATed) ─▶ found: update state, maybe NAT
//	                                                     └▶ not found: valid new? commit? NAT?
//
// Process does not allocate unless it commits a new connection.
func (t *Table) Process(p *Packet, a *Action, md *Meta) {
	md.Rewrite = Rewrite{}
	md.Drop = DropNone
	zone := a.Zone
	if md.State != 0 && md.Zone != zone {
		md.State = 0
		md.conn = nil
	}
	now := t.now()

	// A second ct() in the zone of the first reuses its lookup, as OVS's process_one_fast.
	if c := md.conn; c != nil && c.keys[0].zone == zone && !a.Force && live(c, now) {
		if a.NAT.Kind != NATNone {
			t.handleNAT(p, c, md.reply, md.related, md)
			md.conn = nil
		}
		md.Zone = zone
		c.mu.Lock()
		md.Mark, md.Label = c.mark, c.label
		if a.Commit {
			setMarkLabel(c, a, md)
		}
		c.mu.Unlock()
		return
	}
	md.conn = nil

	var k key
	related, ok := extract(p, zone, &k)
	if !ok {
		t.count(CounterInvalid)
		*md = Meta{State: StateInvalid | StateTracked, Zone: zone}
		return
	}

	natted := md.State&(StateSNAT|StateDNAT) != 0
	if natted {
		k.reverse()
	}
	c, reply := t.lookup(&k, now)
	if natted {
		if c != nil {
			reply = !reply
			k = c.keys[dirIndex(reply)]
		} else {
			k.reverse()
		}
	}
	if a.Force && reply && c != nil {
		t.expire(c)
		c = nil
	}

	create := false
	switch {
	case c != nil:
		create = t.updateState(p, c, reply, related, now, md)
		if a.NAT.Kind != NATNone && !create {
			t.handleNAT(p, c, reply, related, md)
		}
	case related:
		md.State = StateInvalid // errors never open connections
	default:
		create = true
	}
	if create {
		c = t.notFound(p, &k, a, now, md)
		reply, related = false, false
	}
	if md.State&StateInvalid != 0 {
		t.count(CounterInvalid)
	}

	md.State |= StateTracked
	md.Zone = zone
	if c != nil {
		md.Orig = c.keys[0].tuple()
		c.mu.Lock()
		md.Mark, md.Label = c.mark, c.label
		if a.Commit {
			setMarkLabel(c, a, md)
		}
		if p.Len != 0 {
			d := dirIndex(reply)
			c.packets[d]++
			c.bytes[d] += uint64(p.Len)
		}
		c.mu.Unlock()
	} else {
		md.Orig = k.tuple()
		md.Mark, md.Label = 0, Label{}
	}
	if a.NAT.Kind == NATNone {
		md.conn, md.reply, md.related = c, reply, related
	}
}

func dirIndex(reply bool) int {
	if reply {
		return 1
	}
	return 0
}

// setMarkLabel applies exec(set_field) to c and the packet; c.mu is held.
func setMarkLabel(c *conn, a *Action, md *Meta) {
	if a.MarkMask != 0 {
		c.mark = a.Mark&a.MarkMask | c.mark&^a.MarkMask
		md.Mark = c.mark
	}
	if a.LabelMask != (Label{}) {
		c.label.Hi = a.Label.Hi&a.LabelMask.Hi | c.label.Hi&^a.LabelMask.Hi
		c.label.Lo = a.Label.Lo&a.LabelMask.Lo | c.label.Lo&^a.LabelMask.Lo
		md.Label = c.label
	}
}

// handleNAT translates a packet of an existing connection unless it was already translated
// in this zone.
func (t *Table) handleNAT(p *Packet, c *conn, reply, related bool, md *Meta) {
	if c.nat != NATSrc && c.nat != NATDst {
		return
	}
	if md.State&(StateSNAT|StateDNAT) != 0 {
		return
	}
	natPacket(p, c, reply, related, md)
}

// updateState applies p to its connection and sets md.State; it reports whether a new
// connection must replace c (a SYN reusing a closed tuple).
func (t *Table) updateState(p *Packet, c *conn, reply, related bool, now int64, md *Meta) bool {
	if related {
		md.State |= StateRelated
		if reply {
			md.State |= StateReply
		}
		return false
	}
	c.mu.Lock()
	res, tm := t.protoUpdate(p, c, reply)
	if tm != numTM {
		t.setTimeoutLocked(c, tm, now)
	}
	c.mu.Unlock()
	switch res {
	case updValid:
		md.State |= StateEstablished
		md.State &^= StateNew
		if reply {
			md.State |= StateReply
		}
	case updInvalid:
		md.State = StateInvalid
	case updNew:
		t.expire(c)
		return true
	case updValidNew:
		md.State |= StateNew
	}
	return false
}

// protoUpdate is the per-protocol state machine; c.mu is held.
func (t *Table) protoUpdate(p *Packet, c *conn, reply bool) (update, tmClass) {
	switch c.keys[0].proto {
	case ProtoTCP:
		return c.tcpUpdate(p, reply, t.opts.Liberal)
	case ProtoICMP, ProtoICMPv6:
		if reply && c.other == otherFirst {
			c.other = otherMultiple // reply seen
		}
		if c.other == otherFirst {
			return updValidNew, tmICMPFirst
		}
		return updValid, tmICMPReply
	}
	if reply && c.other != otherBidir {
		c.other = otherBidir
	} else if c.other == otherFirst {
		c.other = otherMultiple
	}
	switch c.other {
	case otherBidir:
		return updValid, tmOtherBidir
	case otherMultiple:
		return updValidNew, tmOtherMultiple
	}
	return updValidNew, tmOtherFirst
}

func validNew(p *Packet) bool {
	switch p.Proto {
	case ProtoTCP:
		return tcpValidNew(p)
	case ProtoICMP:
		return p.ICMPType == icmpEchoRequest || p.ICMPType == icmpInfoRequest || p.ICMPType == icmpTimestamp
	case ProtoICMPv6:
		return p.ICMPType == icmp6EchoRequest
	}
	return true
}

// notFound handles a packet of no known connection: +new, and with commit a new entry (and
// its NAT binding).
func (t *Table) notFound(p *Packet, k *key, a *Action, now int64, md *Meta) *conn {
	if !validNew(p) {
		md.State = StateInvalid
		return nil
	}
	md.State = StateNew
	if !a.Commit {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lookupLocked(k, now) != nil {
		return nil // another goroutine committed it meanwhile
	}
	if t.n.Load() >= int64(t.opts.MaxConns) {
		t.count(CounterFull)
		md.Drop = DropTableFull
		return nil
	}
	c := &conn{created: now}
	c.keys[0] = *k
	c.keys[1] = k.reversed()
	switch k.proto {
	case ProtoTCP:
		c.tcpNew(p)
	case ProtoICMP, ProtoICMPv6:
		c.tm = tmICMPFirst
	default:
		c.tm = tmOtherFirst
	}
	if a.NAT.Kind == NATSrc || a.NAT.Kind == NATDst {
		c.nat = a.NAT.Kind
		if r := t.natTupleLocked(c, &a.NAT, now); r != DropNone {
			md.Drop = r
			if r == DropNATExhausted {
				t.count(CounterNATExhausted)
			} else {
				t.count(CounterNATInvalid)
			}
			return nil
		}
	} else if c.keys[1] != c.keys[0] && t.lookupLocked(&c.keys[1], now) != nil {
		t.count(CounterTupleClash)
		md.Drop = DropTupleClash
		return nil
	}
	c.expires.Store(now + t.timeouts[c.tm])
	t.insertLocked(c)
	t.count(CounterCommitted)
	if c.nat != NATNone {
		natPacket(p, c, false, false, md)
	}
	return c
}
