package conntrack

import "time"

// Timeouts are the idle timeouts per connection state, OVS's timeout policy attributes.
type Timeouts struct {
	TCPSynSent     time.Duration // after the first packet of a TCP connection
	TCPSynRecv     time.Duration // while either side has not reached ESTABLISHED
	TCPEstablished time.Duration // both sides ESTABLISHED
	TCPFinWait     time.Duration // one side closing
	TCPTimeWait    time.Duration // both sides closing
	TCPClose       time.Duration // both sides closed (FIN acknowledged, or RST)
	UDPFirst       time.Duration // one packet seen (UDP, SCTP, other protocols)
	UDPSingle      time.Duration // several packets, one direction only
	UDPMultiple    time.Duration // packets seen both ways
	ICMPFirst      time.Duration // echo request seen
	ICMPReply      time.Duration // reply seen
}

// DefaultTimeouts returns OVS's default timeout policy for the userspace datapath
// (lib/conntrack-tp.c): TCP 30 s to set up, 24 h established, 15 min closing, 45 s and 30 s
// after close; UDP 60 s, 60 s, 30 s; ICMP 60 s, 30 s.
func DefaultTimeouts() Timeouts {
	return Timeouts{
		TCPSynSent:     30 * time.Second,
		TCPSynRecv:     30 * time.Second,
		TCPEstablished: 24 * time.Hour,
		TCPFinWait:     15 * time.Minute,
		TCPTimeWait:    45 * time.Second,
		TCPClose:       30 * time.Second,
		UDPFirst:       60 * time.Second,
		UDPSingle:      60 * time.Second,
		UDPMultiple:    30 * time.Second,
		ICMPFirst:      60 * time.Second,
		ICMPReply:      30 * time.Second,
	}
}

// Options configure a Table.
type Options struct {
	// MaxConns is the hard limit on connections; a commit beyond it is refused with
	// DropTableFull while existing connections keep working.
	MaxConns int
	// Timeouts are the idle timeouts per state.
	Timeouts Timeouts
	// Liberal skips TCP sequence-window checks (OVS's tcp_seq_chk=false): out-of-window
	// segments are accepted instead of being +inv. Flag checks still apply.
	Liberal bool
	// Shards is the number of index shards (rounded up to a power of two).
	Shards int
	// Clock returns the current time as a monotonic duration from any fixed origin. Nil
	// uses the time since the table was created.
	Clock func() time.Duration
	// Seed perturbs the hashes (index sharding and NAT choices); 0 picks one at random.
	Seed uint64
}

// DefaultOptions returns a table for a node: 256k connections (OVS's default limit is 3M on
// a large box; a pod node needs far fewer), OVS's default timeouts, strict TCP windows,
// 64 shards (enough that two to eight packet goroutines rarely share a lock), the real clock.
func DefaultOptions() Options {
	return Options{
		MaxConns: 256 << 10,
		Timeouts: DefaultTimeouts(),
		Shards:   64,
	}
}

// timeout classes, indexes into the table's timeout array (OVS's CT_TM_*).
type tmClass uint8

const (
	tmTCPFirst tmClass = iota
	tmTCPOpening
	tmTCPEstablished
	tmTCPClosing
	tmTCPFinWait
	tmTCPClosed
	tmOtherFirst
	tmOtherMultiple
	tmOtherBidir
	tmICMPFirst
	tmICMPReply
	numTM
)

func (to Timeouts) array() [numTM]int64 {
	return [numTM]int64{
		tmTCPFirst:       int64(to.TCPSynSent),
		tmTCPOpening:     int64(to.TCPSynRecv),
		tmTCPEstablished: int64(to.TCPEstablished),
		tmTCPClosing:     int64(to.TCPFinWait),
		tmTCPFinWait:     int64(to.TCPTimeWait),
		tmTCPClosed:      int64(to.TCPClose),
		tmOtherFirst:     int64(to.UDPFirst),
		tmOtherMultiple:  int64(to.UDPSingle),
		tmOtherBidir:     int64(to.UDPMultiple),
		tmICMPFirst:      int64(to.ICMPFirst),
		tmICMPReply:      int64(to.ICMPReply),
	}
}
