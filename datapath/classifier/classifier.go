// Package classifier is the compiled form of OpenFlow flow tables: given a packet's flow.Key it
// finds the flow OVS would pick, and it keeps an exact-match cache in front of that search.
//
// # Tuple-space search
//
// A Table groups its flows by mask: every distinct mask is one subtable, and a subtable is a hash
// table from the masked key to the flows that have exactly that match (a "bucket", sorted by
// priority, highest first). Only the words the mask touches are hashed and compared; the list of
// those words is computed once per subtable. The subtables of a table are kept sorted by the
// highest priority they hold, so a lookup visits them in that order and stops as soon as the
// best flow found so far has a priority above the next subtable's maximum:
//
//	subtable (mask)           max pri   bucket hit?
//	dl_type,nw_dst/32          200       yes → best = 200
//	dl_type,nw_dst/16          190       (not visited: 190 < 200)
//	(empty mask)                 0       (not visited)
//
// Each subtable's hash table is split into shards by the top bits of the hash so that a change
// copies one shard, not the whole subtable (see below).
//
// # Conjunctive matches
//
// A flow whose actions are only conjunction(id,k/n) actions is a clause flow: it never matches on
// its own ("soft" match, in OVS's words). The lookup follows OVS's classifier (lib/classifier.c):
//
//  1. Find the best ordinary ("hard") flow H that matches, and every clause flow that matches with
//     a priority above H's.
//  2. Going down the clause flows' priorities, at each priority p: walk the clause flows of
//     priority p, recording for each of their conjunction ids which clauses have been seen. When
//     some id has all n clauses, look the packet up again with conj_id=id, ignoring clause flows
//     (and, as OVS does, ignoring any bucket whose highest-priority flow is a clause flow). If
//     that finds a flow, it is the result; otherwise keep walking, then try the next lower p.
//  3. Otherwise the result is H.
//
// So an ordinary flow of equal or higher priority beats a conjunction, an unfinished conjunction
// is ignored and the search falls through to lower priorities, and the second lookup can return
// any ordinary flow that matches with conj_id set (normally the conj_id=id flow). OVS quirks kept
// on purpose so verdicts agree (each confirmed against ovs-vswitchd, see TestPrivilegedOVSChecked): a conjunction with n clauses is only considered when at least n
// clause flows matched at that priority; the first clause seen for an id fixes its n; once a
// flow's clause completes an id, that flow's remaining conjunction actions are not counted; and,
// from OVS's bit arithmetic, a 64-clause conjunction completes as soon as any one of its clauses
// is seen (given 64 clause-flow matches at that priority).
//
// Where OVS leaves the outcome undefined (overlapping flows of equal priority, conjunctions that
// complete at the same priority) the answer depends on the order subtables are visited in. This
// package keeps that order exactly as OVS's pvector does: a new subtable is appended, a subtable
// whose last flow goes is replaced by the last one, and every commit sorts them stably by maximum
// priority. The first subtable with a matching flow of the best priority wins, and clause flows
// are walked in subtable order with OVS's swap-with-last removals, so the same sequence of
// flow_mods gives ovs-vswitchd's answer here too (one OVS difference remains: OVS removes deleted
// flows after an RCU grace period, which can reorder removals of several subtables).
//
// # Versions, transactions and concurrency
//
// Tables holds all flow tables of a bridge as one immutable Snapshot published through an
// atomic pointer. Packet goroutines call Load and look up in the snapshot without locks; they
// never block and never see a partial change. Writers go through a Transaction, which holds the
// writer lock from Begin to Commit or Discard: it copies what it touches (snapshot, table,
// subtable, the one shard of a subtable's hash), applies any number of changes to the copies, and
// Commit publishes them at once with the generation number incremented (OpenFlow bundles map onto
// one Transaction). Rules are immutable once inserted; a modification replaces the rule.
//
// # Cache
//
// Cache is an exact-match cache from a whole Key to any value (a verdict for one table or for the
// whole pipeline), one per packet goroutine. Entries carry the Snapshot generation they were
// computed from and are served only while it is current, so no change can ever be hidden by the
// cache. MegaflowCache does the same for regions of keys: it stores the wildcard mask a lookup
// reports with each value, so keys that differ only in bits no flow looked at (a new source
// port) share an entry.
package classifier

import (
	"errors"
	"fmt"

	"github.com/sluicenet/sluice/datapath/flow"
)

// NumTables is the number of table ids a Tables holds (OpenFlow tables 0..254; 255 is OFPTT_ALL
// on the wire and never holds flows, but the id is valid here).
const NumTables = 256

// Conjunction is one conjunction(id,k/n) action of a clause flow: Clause is k (1..NClauses),
// NClauses is n (2..64). It is flow's action type, so a parsed flow's Conjunctions() go into a
// Rule as they are.
type Conjunction = flow.Conjunction

// Rule is one flow in a table. Payload is whatever the caller executes when the flow matches
// (its instructions, counters); the classifier never looks at it. A Rule with Conj set is a
// clause flow of those conjunctions and never matches on its own.
//
// A *Rule returned by the classifier must not be modified: it is shared by every snapshot that
// contains it.
type Rule[P any] struct {
	Match    flow.Match
	Priority uint16
	Cookie   uint64
	Conj     []Conjunction
	Payload  P

	minN uint8 // smallest NClauses in Conj
}

// IsClause reports whether r is a clause flow (has conjunction actions).
func (r *Rule[P]) IsClause() bool { return len(r.Conj) > 0 }

var (
	// ErrExists is returned by Insert when a flow with the same match and priority exists.
	ErrExists = errors.New("a flow with the same match and priority exists")
	// ErrBadConjunction is returned for a conjunction action OVS would reject.
	ErrBadConjunction = errors.New("bad conjunction")
	// ErrDone is returned when a Transaction is used after Commit or Discard.
	ErrDone = errors.New("transaction already committed or discarded")
)

// validate normalizes r's match (clears key bits outside the mask, as OVS does) and checks its
// conjunction actions.
func (r *Rule[P]) validate() error {
	r.Match.Key.And(&r.Match.Mask)
	r.minN = 0
	for i, c := range r.Conj {
		switch {
		case c.NClauses < 2:
			return fmt.Errorf("conjunction(%d,%d/%d): must have at least 2 clauses: %w", c.ID, c.Clause, c.NClauses, ErrBadConjunction)
		case c.NClauses > 64:
			return fmt.Errorf("conjunction(%d,%d/%d): must have at most 64 clauses: %w", c.ID, c.Clause, c.NClauses, ErrBadConjunction)
		case c.Clause < 1 || c.Clause > c.NClauses:
			return fmt.Errorf("conjunction(%d,%d/%d): clause index out of range: %w", c.ID, c.Clause, c.NClauses, ErrBadConjunction)
		}
		if i == 0 || c.NClauses < r.minN {
			r.minN = c.NClauses
		}
	}
	return nil
}

// Filter selects flows for Delete, Modify and Select, with OpenFlow flow_mod semantics.
//
// Strict: the flow's match and priority equal Match and Priority exactly. Non-strict: the flow's
// match is at least as specific as Match (it cares about every bit Match cares about, with the
// same value there); priority is ignored. In both cases the cookie must satisfy
// flow.Cookie & CookieMask == Cookie & CookieMask (CookieMask 0 selects any cookie).
type Filter struct {
	Match      flow.Match
	Priority   uint16
	Strict     bool
	Cookie     uint64
	CookieMask uint64
}

// Selects reports whether a flow with match m, priority and cookie is selected by f.
func (f *Filter) Selects(m *flow.Match, priority uint16, cookie uint64) bool {
	if cookie&f.CookieMask != f.Cookie&f.CookieMask {
		return false
	}
	if f.Strict {
		if priority != f.Priority || m.Mask != f.Match.Mask {
			return false
		}
		for i := range m.Key.W {
			if m.Key.W[i] != f.Match.Key.W[i]&f.Match.Mask.W[i] {
				return false
			}
		}
		return true
	}
	return subsumes(&f.Match, &m.Mask) && valueMatches(&f.Match, &m.Key)
}

// subsumes reports whether mask covers every bit of f's mask.
func subsumes(f *flow.Match, mask *flow.Key) bool {
	for i, w := range f.Mask.W {
		if w&^mask.W[i] != 0 {
			return false
		}
	}
	return true
}

// valueMatches reports whether key agrees with f on f's masked bits.
func valueMatches(f *flow.Match, key *flow.Key) bool {
	for i, w := range f.Mask.W {
		if key.W[i]&w != f.Key.W[i]&w {
			return false
		}
	}
	return true
}
