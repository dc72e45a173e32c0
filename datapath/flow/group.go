package flow

// GroupType is an OpenFlow group type.
type GroupType uint8

// The group types.
const (
	GroupAll GroupType = iota
	GroupSelect
	GroupIndirect
	GroupFastFailover
)

// GroupEntry is one OpenFlow group (ovs-ofctl add-group syntax): a set of buckets chosen by
// Type. (Named GroupEntry because Group is the group:N action.)
type GroupEntry struct {
	ID   uint32
	Type GroupType
	// SelectionMethod is "" (the switch's default), "hash" or "dp_hash"; SelectionParam its
	// basis; Fields the packet fields the hash covers (with masks), for "hash".
	SelectionMethod string
	SelectionParam  uint64
	Fields          []HashField
	Buckets         []Bucket
}

// HashField is one field of a select group's hash, with an optional mask (zero Mask: whole).
type HashField struct {
	Field Field
	Mask  Value
}

// BucketIDNone marks a bucket whose ID was not given; the switch numbers it.
const BucketIDNone uint32 = 0xffffffff

// Bucket is one group bucket.
type Bucket struct {
	ID         uint32 // BucketIDNone when unset
	Weight     uint16 // select groups; ovs-ofctl's default is 1
	WatchPort  uint32 // fast-failover; PortAny when unset
	WatchGroup uint32 // fast-failover; 0xffffffff when unset
	Actions    []Action
}

// MeterEntry is one OpenFlow meter (ovs-ofctl add-meter syntax).
type MeterEntry struct {
	ID    uint32
	Flags MeterFlags
	Bands []MeterBand
}

// MeterFlags are a meter's flags.
type MeterFlags uint16

// The meter flags (OFPMF_*).
const (
	MeterKbps  MeterFlags = 1 << 0
	MeterPktps MeterFlags = 1 << 1
	MeterBurst MeterFlags = 1 << 2
	MeterStats MeterFlags = 1 << 3
)

// MeterBandType is a meter band's action.
type MeterBandType uint8

// The meter band types.
const (
	BandDrop       MeterBandType = 1
	BandDSCPRemark MeterBandType = 2
)

// MeterBand is one band: above Rate (kb/s or packets/s per the meter's flags) with BurstSize,
// apply Type.
type MeterBand struct {
	Type      MeterBandType
	Rate      uint32
	BurstSize uint32
	PrecLevel uint8 // dscp_remark only
}
