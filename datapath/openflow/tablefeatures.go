package openflow

import "fmt"

// Table-features commands (OFPTFC_*, OpenFlow 1.5).
const (
	TableFeaturesReplace = 0
	TableFeaturesModify  = 1
	TableFeaturesEnable  = 2
	TableFeaturesDisable = 3
)

// TableFeatures is one ofp_table_features entry. Properties (the instructions, actions, match
// and set-field lists a table supports) are kept as raw ofp_table_feature_prop bytes.
type TableFeatures struct {
	TableID       uint8
	Command       uint8
	Name          string
	MetadataMatch uint64
	MetadataWrite uint64
	Capabilities  uint32
	MaxEntries    uint32
	Properties    []byte
}

func appendTableFeatures(b []byte, ts []TableFeatures) ([]byte, error) {
	for i := range ts {
		t := &ts[i]
		start := len(b)
		b = append(b, 0, 0, t.TableID, t.Command, 0, 0, 0, 0)
		b = appendName(b, t.Name, 32)
		b = be.AppendUint64(b, t.MetadataMatch)
		b = be.AppendUint64(b, t.MetadataWrite)
		b = be.AppendUint32(b, t.Capabilities)
		b = be.AppendUint32(b, t.MaxEntries)
		b = append(b, t.Properties...)
		if len(b)-start > 0xffff {
			return b, fmt.Errorf("table %d features: %w", t.TableID, ErrTooLong)
		}
		be.PutUint16(b[start:], uint16(len(b)-start))
	}
	return b, nil
}

func decodeTableFeatures(c *cursor) ([]TableFeatures, error) {
	var out []TableFeatures
	for c.len() > 0 && c.err == nil {
		n := int(c.u16())
		if c.err == nil && n < 64 {
			return nil, fmt.Errorf("table features length %d: %w", n, ErrBadLength)
		}
		tc := c.sub(n - 2)
		t := TableFeatures{TableID: tc.u8(), Command: tc.u8()}
		tc.skip(4)
		t.Name = readName(tc, 32)
		t.MetadataMatch, t.MetadataWrite = tc.u64(), tc.u64()
		t.Capabilities, t.MaxEntries = tc.u32(), tc.u32()
		t.Properties = tc.rest()
		if tc.err != nil {
			return nil, tc.err
		}
		out = append(out, t)
	}
	return out, c.err
}

// TableFeaturesRequest is OFPMP_TABLE_FEATURES's request: empty to ask, or the features to set.
// ovs-ofctl sends one before most commands.
type TableFeaturesRequest struct {
	multipart
	Tables []TableFeatures
}

// Type returns TypeMultipartRequest.
func (*TableFeaturesRequest) Type() Type { return TypeMultipartRequest }
func (m *TableFeaturesRequest) appendBody(b []byte) ([]byte, error) {
	return appendTableFeatures(appendMPHeader(b, MPTableFeat, m.Flags), m.Tables)
}
func (m *TableFeaturesRequest) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	ts, err := decodeTableFeatures(c)
	m.Tables = ts
	return err
}

// TableFeaturesReply is OFPMP_TABLE_FEATURES's reply.
type TableFeaturesReply struct {
	multipart
	Tables []TableFeatures
}

// Type returns TypeMultipartReply.
func (*TableFeaturesReply) Type() Type { return TypeMultipartReply }
func (m *TableFeaturesReply) appendBody(b []byte) ([]byte, error) {
	return appendTableFeatures(appendMPHeader(b, MPTableFeat, m.Flags), m.Tables)
}
func (m *TableFeaturesReply) decodeBody(b []byte) error {
	c := &cursor{b: b}
	m.Flags = readMPHeader(c)
	ts, err := decodeTableFeatures(c)
	m.Tables = ts
	return err
}
