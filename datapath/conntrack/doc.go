// Package conntrack is Sluice's userspace connection tracker: the state behind OpenFlow's
// ct() action and the ct_state, ct_zone, ct_mark, ct_label and ct_nw_*/ct_tp_* match fields.
// Its verdicts follow Open vSwitch's userspace tracker (lib/conntrack*.c) so that a flow set
// behaves the same on Sluice and on ovs-vswitchd.
//
// # Model
//
// A connection is stored under two keys, its original-direction tuple and its reply-direction
// tuple (which differs from the reversed original when NAT applies), each key including the
// 16-bit zone. A packet is looked up by its own tuple: a hit on the original key is a packet in
// the original direction, a hit on the reply key sets +rpl. Nothing is stored unless the ct
// action commits: an unknown connection seen by ct() without commit gets +trk+new and leaves no
// trace.
//
// Per protocol:
//   - TCP keeps, per direction, the sequence window (pf's algorithm as OVS uses it: lowest
//     unacknowledged sequence, highest acceptable end, largest window seen, window scale) and a
//     peer state (CLOSED, SYN_SENT, ESTABLISHED, CLOSING, FIN_WAIT_2, TIME_WAIT). A packet outside
//     the window or with an impossible flag combination is +inv. Liberal mode (Options.Liberal,
//     OVS's tcp_seq_chk=false) skips the window check. A retransmitted SYN stays +new.
//   - UDP, SCTP and every other protocol keep OVS's three "other" states: first packet, several
//     packets one way (+new until a reply is seen), both ways (+est).
//   - ICMP and ICMPv6 echo (and ICMPv4 timestamp/info) are connections keyed by the identifier.
//     ICMP errors whose embedded header belongs to a connection are +rel (and +rpl when they
//     travel in the reply direction); ICMP errors that belong to nothing are +inv.
//   - IPv4 fragments must be reassembled first (Reassembler); a bare fragment is +inv.
//
// # NAT
//
// ct(commit,nat(src=…)) or nat(dst=…) picks an address from the range by a hash of the
// original tuple and a port so that the resulting reply tuple is unique in the zone (OVS's
// search: up to 128 ports from a hash-chosen start, then random restarts with fewer tries). The
// reply key is the translated tuple reversed, so replies find the connection and are translated
// back. Process never rewrites a packet: it returns a Rewrite (new addresses and ports, and for
// ICMP errors the embedded header's too) that the executor applies with incremental checksums.
// As in OVS, translation is only applied when the ct action carries nat, and a packet is
// translated at most once per zone.
//
// # Concurrency
//
// Process may be called from any number of goroutines. The key index is split into shards,
// each a map behind a sync.RWMutex: lookups take one shard's read lock, and every change to the
// index (commit, expiry, flush) also holds the table's insert mutex, so a commit can check
// collisions across shards consistently. A connection's mutable state (TCP windows, timeout,
// mark, label, counters) has its own mutex. Nothing runs in the background: the caller drives
// expiry with Sweep, and all time comes from Options.Clock, so tests control it.
//
// Looking up an established connection does not allocate. Committing one allocates the
// connection.
package conntrack
