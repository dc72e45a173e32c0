package openflow

import (
	"encoding/binary"
	"fmt"
)

// entryLen says how to find the length of one entry in a multipart reply body of a given type:
// a 16-bit length at offset ofs, or a fixed size.
type entryLen struct {
	ofs   int
	fixed int
}

var replyEntries = map[uint16]entryLen{
	MPFlowDesc:   {ofs: 0},
	MPPortStats:  {ofs: 0},
	MPGroupStats: {ofs: 0},
	MPGroupDesc:  {ofs: 0},
	MPTableFeat:  {ofs: 0},
	MPPortDesc:   {ofs: 4},
	MPMeterStats: {ofs: 4},
	MPTable:      {fixed: 24},
	MPMeterDesc:  {ofs: 0},
}

// AppendSplit appends m like Append, except that a multipart reply whose entries do not fit one
// message (a flow dump of a large table, say) is split at entry boundaries into several
// messages with the same xid, each but the last flagged MultipartMore, as a switch must send it.
func AppendSplit(b []byte, xid uint32, m Message) ([]byte, error) {
	if m.Type() != TypeMultipartReply {
		return Append(b, xid, m)
	}
	body, err := m.appendBody(nil)
	if err != nil {
		return b, fmt.Errorf("encode %v: %w", m.Type(), err)
	}
	if HeaderLen+len(body) <= MaxMessageLen {
		return Append(b, xid, m)
	}
	mp := binary.BigEndian.Uint16(body)
	el, ok := replyEntries[mp]
	if !ok {
		return b, fmt.Errorf("encode multipart reply type %d of %d bytes: %w", mp, len(body), ErrTooLong)
	}
	flags := binary.BigEndian.Uint16(body[2:])
	entries := body[8:]
	const room = MaxMessageLen - HeaderLen - 8
	for len(entries) > 0 {
		// Take whole entries while they fit.
		n := 0
		for n < len(entries) {
			size := el.fixed
			if size == 0 {
				size = int(binary.BigEndian.Uint16(entries[n+el.ofs:]))
			}
			if n+size > room {
				break
			}
			n += size
		}
		if n == 0 {
			return b, fmt.Errorf("multipart reply entry larger than a message: %w", ErrTooLong)
		}
		part := entries[:n]
		entries = entries[n:]
		f := flags
		if len(entries) > 0 {
			f |= MultipartMore
		}
		b = append(b, Version, byte(TypeMultipartReply))
		b = binary.BigEndian.AppendUint16(b, uint16(HeaderLen+8+len(part)))
		b = binary.BigEndian.AppendUint32(b, xid)
		b = appendMPHeader(b, mp, f)
		b = append(b, part...)
	}
	return b, nil
}
