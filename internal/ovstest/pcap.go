package ovstest

import (
	"encoding/binary"
	"fmt"
)

// parsePcap reads the frames of a classic pcap file (the format dummy netdevs' tx_pcap writes),
// in either byte order.
func parsePcap(b []byte) ([][]byte, error) {
	if len(b) < 24 {
		return nil, fmt.Errorf("parse pcap: %d bytes is shorter than the file header", len(b))
	}
	var bo binary.ByteOrder
	switch binary.LittleEndian.Uint32(b) {
	case 0xa1b2c3d4, 0xa1b23c4d:
		bo = binary.LittleEndian
	case 0xd4c3b2a1, 0x4d3cb2a1:
		bo = binary.BigEndian
	default:
		return nil, fmt.Errorf("parse pcap: bad magic %#x", binary.LittleEndian.Uint32(b))
	}
	var frames [][]byte
	for off := 24; off < len(b); {
		if len(b)-off < 16 {
			return nil, fmt.Errorf("parse pcap: truncated record header at %d", off)
		}
		n := int(bo.Uint32(b[off+8:]))
		off += 16
		if n > len(b)-off {
			return nil, fmt.Errorf("parse pcap: record of %d bytes at %d overruns the file", n, off)
		}
		frames = append(frames, b[off:off+n:off+n])
		off += n
	}
	return frames, nil
}
