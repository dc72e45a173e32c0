package openflow

import "fmt"

// GroupModCommand is ofp15_group_mod's command (OFPGC15_*).
type GroupModCommand uint16

// The group-mod commands.
const (
	GroupAdd          GroupModCommand = 0
	GroupModify       GroupModCommand = 1
	GroupDelete       GroupModCommand = 2
	GroupInsertBucket GroupModCommand = 3
	GroupRemoveBucket GroupModCommand = 5
	GroupAddOrModify  GroupModCommand = 0x8000
)

// Group types (OFPGT_*).
const (
	GroupTypeAll          = 0
	GroupTypeSelect       = 1
	GroupTypeIndirect     = 2
	GroupTypeFastFailover = 3
)

// Special bucket ids (OFPG15_BUCKET_*).
const (
	BucketMax   uint32 = 0xffffff00
	BucketFirst uint32 = 0xfffffffd
	BucketLast  uint32 = 0xfffffffe
	BucketAll   uint32 = 0xffffffff
)

// Bucket property types (OFPGBPT15_*).
const (
	bucketPropWeight     = 0
	bucketPropWatchPort  = 1
	bucketPropWatchGroup = 2
)

// Bucket is ofp15_bucket. The properties are present when their Has* flag is set (OVS sends
// weight for select groups and watch_port/watch_group for fast-failover ones).
type Bucket struct {
	BucketID      uint32
	Actions       []Action
	HasWeight     bool
	Weight        uint16
	HasWatchPort  bool
	WatchPort     uint32
	HasWatchGroup bool
	WatchGroup    uint32
}

func (k *Bucket) appendBucket(b []byte) ([]byte, error) {
	start := len(b)
	b = append(b, 0, 0, 0, 0)
	b = be.AppendUint32(b, k.BucketID)
	b, err := AppendActions(b, k.Actions)
	if err != nil {
		return b[:start], err
	}
	be.PutUint16(b[start+2:], uint16(len(b)-start-8))
	if k.HasWeight {
		b = appendProp(b, bucketPropWeight, []byte{byte(k.Weight >> 8), byte(k.Weight), 0, 0})
	}
	if k.HasWatchPort {
		b = appendProp(b, bucketPropWatchPort, be.AppendUint32(nil, k.WatchPort))
	}
	if k.HasWatchGroup {
		b = appendProp(b, bucketPropWatchGroup, be.AppendUint32(nil, k.WatchGroup))
	}
	if len(b)-start > 0xffff {
		return b[:start], fmt.Errorf("bucket: %w", ErrTooLong)
	}
	be.PutUint16(b[start:], uint16(len(b)-start))
	return b, nil
}

func appendBuckets(b []byte, bs []Bucket) ([]byte, error) {
	for i := range bs {
		var err error
		if b, err = bs[i].appendBucket(b); err != nil {
			return b, err
		}
	}
	return b, nil
}

func decodeBuckets(c *cursor) ([]Bucket, error) {
	var out []Bucket
	for c.len() > 0 && c.err == nil {
		n, an := int(c.u16()), int(c.u16())
		if c.err == nil && (n < 8 || an > n-8) {
			return nil, fmt.Errorf("bucket length %d, actions %d: %w", n, an, ErrBadLength)
		}
		bc := c.sub(n - 4)
		k := Bucket{BucketID: bc.u32()}
		acts, err := decodeActions(bc.sub(an), 0)
		if err != nil {
			return nil, err
		}
		k.Actions = acts
		err = decodeProps(bc, func(typ uint16, v *cursor) error {
			switch typ {
			case bucketPropWeight:
				k.HasWeight, k.Weight = true, v.u16()
			case bucketPropWatchPort:
				k.HasWatchPort, k.WatchPort = true, v.u32()
			case bucketPropWatchGroup:
				k.HasWatchGroup, k.WatchGroup = true, v.u32()
			default:
				return fmt.Errorf("bucket property %d: %w", typ, ErrBadAction)
			}
			return v.err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, c.err
}

// GroupMod is OFPT_GROUP_MOD (OpenFlow 1.5). CommandBucketID says where insert_bucket puts the
// buckets and which remove_bucket removes. Properties keeps group properties (OVS's
// selection_method experimenter property, for instance) as raw bytes.
type GroupMod struct {
	Command         GroupModCommand
	GroupType       uint8
	GroupID         uint32
	CommandBucketID uint32
	Buckets         []Bucket
	Properties      []byte
}

// Type returns TypeGroupMod.
func (*GroupMod) Type() Type { return TypeGroupMod }

func (m *GroupMod) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint16(b, uint16(m.Command))
	b = append(b, m.GroupType, 0)
	b = be.AppendUint32(b, m.GroupID)
	lenAt := len(b)
	b = append(b, 0, 0, 0, 0)
	b = be.AppendUint32(b, m.CommandBucketID)
	start := len(b)
	b, err := appendBuckets(b, m.Buckets)
	if err != nil {
		return b, err
	}
	be.PutUint16(b[lenAt:], uint16(len(b)-start))
	return append(b, m.Properties...), nil
}

func (m *GroupMod) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Command = GroupModCommand(c.u16())
	m.GroupType = c.u8()
	c.skip(1)
	m.GroupID = c.u32()
	n := int(c.u16())
	c.skip(2)
	m.CommandBucketID = c.u32()
	bs, err := decodeBuckets(c.sub(n))
	if err != nil {
		return err
	}
	m.Buckets = bs
	m.Properties = c.rest()
	return c.err
}

// MeterModCommand is ofp_meter_mod's command (OFPMC_*).
type MeterModCommand uint16

// The meter-mod commands.
const (
	MeterAdd    MeterModCommand = 0
	MeterModify MeterModCommand = 1
	MeterDelete MeterModCommand = 2
)

// Meter flags (OFPMF_*).
const (
	MeterFlagKbps  = 1 << 0
	MeterFlagPktps = 1 << 1
	MeterFlagBurst = 1 << 2
	MeterFlagStats = 1 << 3
)

// Meter band types (OFPMBT_*).
const (
	BandDrop         = 1
	BandDSCPRemark   = 2
	BandExperimenter = 0xffff
)

// MeterAll is OFPM_ALL.
const MeterAll uint32 = 0xffffffff

// Band is one meter band: drop, dscp_remark (PrecLevel) or experimenter (Experimenter).
type Band struct {
	Type         uint16
	Rate         uint32
	BurstSize    uint32
	PrecLevel    uint8
	Experimenter uint32
}

// MeterMod is OFPT_METER_MOD.
type MeterMod struct {
	Command MeterModCommand
	Flags   uint16
	MeterID uint32
	Bands   []Band
}

// Type returns TypeMeterMod.
func (*MeterMod) Type() Type { return TypeMeterMod }

func appendBand(b []byte, bd *Band) []byte {
	b = be.AppendUint16(b, bd.Type)
	b = be.AppendUint16(b, 16)
	b = be.AppendUint32(b, bd.Rate)
	b = be.AppendUint32(b, bd.BurstSize)
	switch bd.Type {
	case BandDSCPRemark:
		return append(b, bd.PrecLevel, 0, 0, 0)
	case BandExperimenter:
		return be.AppendUint32(b, bd.Experimenter)
	}
	return append(b, 0, 0, 0, 0)
}

func decodeBands(c *cursor) ([]Band, error) {
	var out []Band
	for c.len() > 0 && c.err == nil {
		bd := Band{Type: c.u16()}
		n := int(c.u16())
		if c.err == nil && n != 16 {
			return nil, fmt.Errorf("meter band length %d: %w", n, ErrBadLength)
		}
		bd.Rate, bd.BurstSize = c.u32(), c.u32()
		switch bd.Type {
		case BandDSCPRemark:
			bd.PrecLevel = c.u8()
			c.skip(3)
		case BandExperimenter:
			bd.Experimenter = c.u32()
		default:
			c.skip(4)
		}
		out = append(out, bd)
	}
	return out, c.err
}

func (m *MeterMod) appendBody(b []byte) ([]byte, error) {
	b = be.AppendUint16(b, uint16(m.Command))
	b = be.AppendUint16(b, m.Flags)
	b = be.AppendUint32(b, m.MeterID)
	for i := range m.Bands {
		b = appendBand(b, &m.Bands[i])
	}
	return b, nil
}

func (m *MeterMod) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Command, m.Flags, m.MeterID = MeterModCommand(c.u16()), c.u16(), c.u32()
	bands, err := decodeBands(c)
	m.Bands = bands
	return err
}
