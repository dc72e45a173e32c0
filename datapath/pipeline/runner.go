package pipeline

import (
	"github.com/sluicenet/sluice/datapath/classifier"
	"github.com/sluicenet/sluice/datapath/conntrack"
	"github.com/sluicenet/sluice/datapath/flow"
	"github.com/sluicenet/sluice/datapath/packet"
)

// Headroom is the room a Runner keeps in front of a frame for VLAN pushes.
const Headroom = 64

// maxFrame is the largest frame a Runner accepts (Extract's limit).
const maxFrame = 65535

// Result is what the pipeline did with one packet. It owns the memory its frames point into
// and is reused from packet to packet: a Result's frames are valid until it is passed to
// Process again.
type Result struct {
	// Outputs are the copies of the packet that leave, in datapath order.
	Outputs []Output
	// PacketIns are the copies sent to the controller.
	PacketIns []PacketIn
	// Drop is set when the pipeline dropped the packet for a reason other than the flows
	// (a translation loop, recirculation too deep, no headroom).
	Drop DropReason
	// ParseDrop is set when the frame was malformed and never reached the tables.
	ParseDrop packet.DropReason

	buf []byte
}

// Output is one copy of the packet leaving on Port.
type Output struct {
	Port  uint32
	Frame []byte
	// Packet metadata in effect (set by set_field and kept with the copy).
	PktMark uint32
	TunID   uint64
	TunSrc  uint32
	TunDst  uint32

	off, n int
}

// PacketIn is one copy of the packet sent to the controller.
type PacketIn struct {
	Reason   flow.ControllerReason
	Table    uint8
	Cookie   uint64
	UserData []byte
	MaxLen   uint16
	Frame    []byte

	off, n int
}

func (r *Result) reset() {
	r.Outputs = r.Outputs[:0]
	r.PacketIns = r.PacketIns[:0]
	r.Drop = DropNone
	r.ParseDrop = packet.ReasonNone
	r.buf = r.buf[:0]
}

// finish points the frames into the buffer (which may have moved while it grew).
func (r *Result) finish() {
	for i := range r.Outputs {
		o := &r.Outputs[i]
		o.Frame = r.buf[o.off : o.off+o.n : o.off+o.n]
	}
	for i := range r.PacketIns {
		pi := &r.PacketIns[i]
		pi.Frame = r.buf[pi.off : pi.off+pi.n : pi.off+pi.n]
	}
}

// pktState is a packet in flight: its frame (inside a Runner buffer), layer offsets, conntrack
// metadata and the metadata that travels with output copies.
type pktState struct {
	buf        []byte
	start, end int
	info       packet.Info
	md         conntrack.Meta
	pktMark    uint32
	tunID      uint64
	tunSrc     uint32
	tunDst     uint32
	inPort     uint32
}

func (s *pktState) frame() []byte { return s.buf[s.start:s.end] }

// Runner runs packets through a Pipeline for one goroutine: it owns an exact-match cache and
// scratch buffers. It is not safe for concurrent use.
type Runner struct {
	p     *Pipeline
	cache *classifier.Cache[*program]
	mf    *classifier.MegaflowCache[*program]
	bufs  [MaxRecircDepth + 1][]byte
	key   flow.Key

	// Tracing state (Pipeline.Trace only).
	trace *Trace
	emu   *TraceOptions
	nCT   int

	noCache bool // benchmarks of the slow path
}

// NewRunner returns a Runner with an empty cache.
func (p *Pipeline) NewRunner() *Runner {
	co := classifier.DefaultCacheOptions()
	if p.opts.CacheEntries > 0 {
		co.Entries = p.opts.CacheEntries
	}
	r := &Runner{p: p, cache: classifier.NewCache[*program](co),
		mf: classifier.NewMegaflowCache[*program](classifier.DefaultMegaflowOptions())}
	for i := range r.bufs {
		r.bufs[i] = make([]byte, Headroom+2048)
	}
	return r
}

// CacheStats returns the Runner's exact-match cache counters.
func (r *Runner) CacheStats() classifier.CacheStats { return r.cache.Stats() }

// MegaflowStats returns how many exact-match misses the megaflow cache answered (hits) and
// how many went on to translation (misses), and how many masks it holds.
func (r *Runner) MegaflowStats() (hits, misses uint64, masks int) {
	st := r.mf.Stats()
	return st.Hits, st.Misses, r.mf.Masks()
}

// Process runs a frame that arrived on inPort through the pipeline and fills res. The frame is
// not modified (the Runner works on a copy). On the cached path it does not allocate.
func (r *Runner) Process(frame []byte, inPort uint32, res *Result) {
	res.reset()
	r.process(frame, inPort, res)
	res.finish()
}

func (r *Runner) process(frame []byte, inPort uint32, res *Result) {
	if len(frame) > maxFrame {
		r.p.drops.Inc(packet.DropFrameTooLong)
		res.ParseDrop = packet.DropFrameTooLong
		return
	}
	if need := Headroom + len(frame); len(r.bufs[0]) < need {
		r.bufs[0] = make([]byte, need+need/2)
	}
	var st pktState
	st.buf, st.start, st.end, st.inPort = r.bufs[0], Headroom, Headroom+len(frame), inPort
	copy(st.buf[st.start:], frame)
	if reason := packet.Extract(st.frame(), inPort, &r.key, &st.info); reason != packet.ReasonNone {
		r.p.drops.Inc(reason)
		res.ParseDrop = reason
		if r.trace != nil {
			r.trace.ParseDrop = reason
		}
		return
	}
	r.key.Set(flow.FieldInPort, uint64(inPort))
	r.runPass(&st, &r.key, 0, 0, res)
}

// passWord and passShift place a pass's resume table in Key bits no field uses, so cache
// entries of different recirculation points never collide (see TestPassBitsUnused);
// passTagMask covers them, so every megaflow is exact on the pass.
const (
	passWord    = 26
	passShift   = 32
	passTagMask = uint64(0x1ff) << passShift
)

// runPass translates (or finds in the cache) and executes one pass.
func (r *Runner) runPass(st *pktState, key *flow.Key, table uint8, depth int, res *Result) {
	var tag uint64
	if depth > 0 {
		tag = uint64(table) + 1
	}
	var prog *program
	if r.trace == nil && !r.noCache {
		gen := r.p.version.Load() // before translating: a change during it bumps it again
		ck := *key
		ck.W[passWord] |= tag << passShift
		var ok bool
		if prog, ok = r.cache.Lookup(&ck, gen); !ok {
			if prog, ok = r.mf.Lookup(&ck, gen); !ok {
				var wc flow.Key
				prog = r.p.translateWC(key, table, nil, true, &wc)
				if prog.cacheable {
					wc.W[passWord] |= passTagMask
					r.mf.Insert(&ck, &wc, gen, prog)
				}
			}
			if prog.cacheable {
				r.cache.Insert(&ck, gen, prog)
			}
		}
	} else if r.trace == nil {
		prog = r.p.translate(key, table, nil, true)
	} else {
		r.trace.Passes = append(r.trace.Passes, TracePass{Recirc: depth, Table: table, Key: *key})
		tp := &r.trace.Passes[len(r.trace.Passes)-1]
		prog = r.p.translate(key, table, tp, !r.emu.NoSideEffects)
	}
	r.exec(prog, st, depth, res)
}

// exec applies a program's ops to the packet.
func (r *Runner) exec(prog *program, st *pktState, depth int, res *Result) {
	n := uint64(st.end - st.start)
	now := r.p.now.Load()
	for _, e := range prog.entries {
		e.c.packets.Add(1)
		e.c.bytes.Add(n)
		if e.lastUsed.Load() != now {
			e.lastUsed.Store(now)
		}
	}
	if prog.drop != DropNone {
		r.p.countDrop(prog.drop)
		res.Drop = prog.drop
		return
	}
	for i := range prog.ops {
		o := &prog.ops[i]
		switch o.kind {
		case opSet:
			r.set(st, o)
		case opPushVLAN:
			if st.start < 4 {
				r.p.countDrop(DropNoHeadroom)
				res.Drop = DropNoHeadroom
				return
			}
			ns, ok := packet.PushVLAN(st.buf, st.start, &st.info, uint16(o.port), uint16(o.lo))
			if ok {
				st.start = ns
			}
		case opPopVLAN:
			st.start, _ = packet.PopVLAN(st.buf, st.start, &st.info)
		case opOutput:
			off := len(res.buf)
			res.buf = append(res.buf, st.frame()...)
			res.Outputs = append(res.Outputs, Output{Port: o.port, PktMark: st.pktMark, TunID: st.tunID,
				TunSrc: st.tunSrc, TunDst: st.tunDst, off: off, n: st.end - st.start})
		case opController:
			off := len(res.buf)
			res.buf = append(res.buf, st.frame()...)
			res.PacketIns = append(res.PacketIns, PacketIn{Reason: o.ctl.reason, Table: o.ctl.table,
				Cookie: o.ctl.cookie, UserData: o.ctl.userData, MaxLen: o.ctl.maxLen, off: off, n: st.end - st.start})
		case opCT:
			r.conntrack(o.ct, st, depth, res)
		case opCTClear:
			st.md = conntrack.Meta{}
		case opMeter:
		}
	}
}

// set writes one field into the frame or the packet's metadata.
func (r *Runner) set(st *pktState, o *op) {
	switch o.field {
	case flow.FieldPktMark:
		st.pktMark = uint32(o.lo)
	case flow.FieldTunID:
		st.tunID = o.lo
	case flow.FieldTunSrc:
		st.tunSrc = uint32(o.lo)
	case flow.FieldTunDst:
		st.tunDst = uint32(o.lo)
	default:
		if o.field.Width() > 64 {
			packet.SetField128(st.frame(), &st.info, o.field, o.hi, o.lo)
		} else {
			packet.SetField(st.frame(), &st.info, o.field, o.lo)
		}
	}
}

// conntrack executes a ct op and, for ct(table=N), the recirculated pass.
func (r *Runner) conntrack(c *ctOp, st *pktState, depth int, res *Result) {
	var sub pktState
	recirc := c.table != flow.TableNone
	if r.emu != nil && r.emu.CTNext != nil {
		// ofproto/trace's model: no tracker, the given state, simulated NAT on the copy only.
		state := conntrack.StateTracked | conntrack.StateNew
		if recirc {
			if r.nCT < len(r.emu.CTNext) {
				state = r.emu.CTNext[r.nCT]
			}
			r.nCT++
		}
		if !recirc {
			return
		}
		if !r.fork(st, &sub, depth, res) {
			return
		}
		sub.md = conntrack.Meta{State: state, Zone: c.act.Zone}
		if c.act.Commit {
			sub.md.Mark, sub.md.Label = c.emuMark, c.emuLabel
		}
		if c.act.Commit && c.nat != nil && c.nat.MinAddr.IsValid() {
			simulateNAT(&sub, c.nat)
		}
	} else {
		var cp conntrack.Packet
		fillCTPacket(st.frame(), &st.info, &cp)
		r.p.ct.Process(&cp, &c.act, &st.md)
		switch st.md.Drop {
		case conntrack.DropNone:
		case conntrack.DropNATExhausted, conntrack.DropNATInvalid:
			r.p.countDrop(DropNATExhausted)
		default:
			r.p.countDrop(DropConntrackFull)
		}
		if st.md.Rewrite.Set != 0 {
			applyRewrite(st.frame(), &st.info, &st.md.Rewrite)
		}
		if !recirc || !r.fork(st, &sub, depth, res) {
			return
		}
	}
	// The recirculated pass: headers from the (translated) frame, metadata from the freeze,
	// conntrack fields from the tracker.
	var key flow.Key
	packet.Extract(sub.frame(), sub.inPort, &key, &sub.info)
	copy(key.W[:frozenWords], c.frozen[:])
	md := &sub.md
	key.Set(flow.FieldCtState, uint64(md.State))
	key.Set(flow.FieldCtZone, uint64(md.Zone))
	key.Set(flow.FieldCtMark, uint64(md.Mark))
	key.Set128(flow.FieldCtLabel, md.Label.Hi, md.Label.Lo)
	if o := md.Orig; o.Src.Is4() && o.Dst.Is4() {
		s, d := o.Src.As4(), o.Dst.As4()
		key.Set(flow.FieldCtNwSrc, uint64(s[0])<<24|uint64(s[1])<<16|uint64(s[2])<<8|uint64(s[3]))
		key.Set(flow.FieldCtNwDst, uint64(d[0])<<24|uint64(d[1])<<16|uint64(d[2])<<8|uint64(d[3]))
		key.Set(flow.FieldCtNwProto, uint64(o.Proto))
		key.Set(flow.FieldCtTpSrc, uint64(o.SrcPort))
		key.Set(flow.FieldCtTpDst, uint64(o.DstPort))
	} else if o.Proto != 0 {
		key.Set(flow.FieldCtNwProto, uint64(o.Proto))
		key.Set(flow.FieldCtTpSrc, uint64(o.SrcPort))
		key.Set(flow.FieldCtTpDst, uint64(o.DstPort))
	}
	r.runPass(&sub, &key, c.table, depth+1, res)
}

// fork copies the packet into the next recirculation buffer; false when too deep.
func (r *Runner) fork(st, sub *pktState, depth int, res *Result) bool {
	if depth+1 > MaxRecircDepth {
		r.p.countDrop(DropRecircDepth)
		res.Drop = DropRecircDepth
		return false
	}
	*sub = *st
	n := st.end - st.start
	if need := Headroom + n; len(r.bufs[depth+1]) < need {
		r.bufs[depth+1] = make([]byte, need+need/2)
	}
	sub.buf = r.bufs[depth+1]
	sub.start, sub.end = Headroom, Headroom+n
	copy(sub.buf[sub.start:], st.frame())
	return true
}

// Trace runs one packet through the pipeline on the slow path (no cache) and records what
// happened; the Result is what Process would have produced (with side effects: learn runs
// unless opts.NoSideEffects, and the connection tracker is updated unless opts.CTNext is set).
func (p *Pipeline) Trace(frame []byte, inPort uint32, opts TraceOptions) (*Trace, *Result) {
	r := p.NewRunner()
	r.trace = &Trace{}
	r.emu = &opts
	res := &Result{}
	r.Process(frame, inPort, res)
	return r.trace, res
}
