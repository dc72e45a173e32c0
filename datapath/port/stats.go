package port

import "sync/atomic"

// DropReason says why a port dropped a frame.
type DropReason int

const (
	// DropTXRingFull: the transmit ring had no room.
	DropTXRingFull DropReason = iota
	// DropTooLong: the frame does not fit a chunk of the transmitting port's memory (or, for
	// injected frames, of the receiving port's).
	DropTooLong
	// DropNoMemory: copying into the port's memory found no free chunk.
	DropNoMemory
	// DropDown: the port is gone.
	DropDown
	// NumDropReasons is the number of drop reasons.
	NumDropReasons
)

var dropNames = [NumDropReasons]string{"tx_ring_full", "too_long", "no_memory", "port_down"}

// String returns the reason's metric label, e.g. "tx_ring_full".
func (r DropReason) String() string {
	if r < 0 || r >= NumDropReasons {
		return "unknown"
	}
	return dropNames[r]
}

// Stats is a snapshot of a port's counters.
type Stats struct {
	RXFrames, RXBytes uint64
	TXFrames, TXBytes uint64
	// Copies counts frames Transmit copied in from another memory.
	Copies uint64
	Drops  [NumDropReasons]uint64
}

// Counters are a port's live counters, updated with atomics so Stats may run on any goroutine.
type Counters struct {
	rxFrames, rxBytes, txFrames, txBytes, copies atomic.Uint64
	drops                                        [NumDropReasons]atomic.Uint64
}

// Received counts n received frames of total length bytes.
func (c *Counters) Received(n, bytes int) {
	c.rxFrames.Add(uint64(n))
	c.rxBytes.Add(uint64(bytes))
}

// Transmitted counts n transmitted frames of total length bytes.
func (c *Counters) Transmitted(n, bytes int) {
	c.txFrames.Add(uint64(n))
	c.txBytes.Add(uint64(bytes))
}

// Copied counts n frames copied in from another memory.
func (c *Counters) Copied(n int) { c.copies.Add(uint64(n)) }

// Dropped counts n frames dropped for reason r.
func (c *Counters) Dropped(r DropReason, n int) { c.drops[r].Add(uint64(n)) }

// Snapshot reads the counters.
func (c *Counters) Snapshot() Stats {
	s := Stats{
		RXFrames: c.rxFrames.Load(), RXBytes: c.rxBytes.Load(),
		TXFrames: c.txFrames.Load(), TXBytes: c.txBytes.Load(), Copies: c.copies.Load(),
	}
	for i := range s.Drops {
		s.Drops[i] = c.drops[i].Load()
	}
	return s
}
