package flow

import "time"

// DefaultPriority is the priority a flow gets when its text names none (OpenFlow's 0x8000).
const DefaultPriority = 32768

// Flow is one OpenFlow flow entry: where it lives (Table, Priority), what it matches, what it
// does (Instructions) and its bookkeeping (cookie, timeouts, flags, statistics).
//
// The zero value is a table-0, priority-0 flow with an empty match that drops; ParseFlow fills
// Priority with DefaultPriority when the text names none.
type Flow struct {
	Table    uint8
	Priority uint16
	Match    Match

	// Cookie is the controller's opaque tag. CookieMask is non-zero only in a flow used as a
	// filter (del-flows, dump-flows "cookie=0x1/-1"): then only flows whose cookie equals Cookie
	// under CookieMask are selected.
	Cookie     uint64
	CookieMask uint64

	// IdleTimeout and HardTimeout are in seconds; 0 means permanent. Sluice keeps them 32 bits
	// wide (OpenFlow's wire format has 16).
	IdleTimeout uint32
	HardTimeout uint32
	Importance  uint16
	Flags       FlowFlags

	Instructions Instructions

	// Stats is filled by a switch's dump, and by ParseFlow when the text carries statistics
	// (a dump-flows line).
	Stats Stats
}

// FlowFlags are a flow-mod's flags (OFPFF_*).
type FlowFlags uint16

// The flow-mod flags, in the order ovs-ofctl prints them.
const (
	FlagSendFlowRem FlowFlags = 1 << iota
	FlagCheckOverlap
	FlagResetCounts
	FlagNoPacketCounts
	FlagNoByteCounts
)

// Stats are a flow's counters as a dump reports them.
type Stats struct {
	Packets  uint64
	Bytes    uint64
	Duration time.Duration
	// IdleAge and HardAge are seconds since the last hit and since the last modification, or
	// -1 when unknown.
	IdleAge int64
	HardAge int64
	// Valid reports whether the flow carries statistics at all (a dump line does, an add-flow
	// line does not).
	Valid bool
}

// Instructions are a flow's OpenFlow instructions. OpenFlow allows each kind at most once and
// executes them in this fixed order: Meter (OpenFlow 1.5 makes it an action, so it sits in
// Apply), Apply, ClearActions, Write, WriteMetadata, GotoTable.
type Instructions struct {
	// Apply runs immediately, in order. An empty Apply with nothing else is "drop".
	Apply []Action
	// ClearActions empties the packet's action set.
	ClearActions bool
	// Write merges into the action set (executed when the pipeline ends); nil means no
	// write_actions instruction, an empty non-nil slice an empty one.
	Write []Action
	// WriteMetadata, when HasWriteMetadata, sets metadata = metadata&^Mask | Value&Mask.
	HasWriteMetadata  bool
	WriteMetadata     uint64
	WriteMetadataMask uint64
	// GotoTable, when HasGotoTable, continues the pipeline at that table.
	HasGotoTable bool
	GotoTable    uint8
}
