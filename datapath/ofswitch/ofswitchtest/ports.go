// Package ofswitchtest provides an in-memory port set for tests of the OpenFlow switch: ports
// that record what the switch transmits and report counters the test sets.
package ofswitchtest

import (
	"sync"

	"github.com/sluicenet/sluice/datapath/ofswitch"
)

// Port is an in-memory ofswitch.Port: Transmit records frames, Stats returns Counters.
type Port struct {
	mu       sync.Mutex
	frames   [][]byte
	Counters ofswitch.PortStats
}

var _ ofswitch.Port = (*Port)(nil)

// Stats returns Counters (Transmit adds to the TX counters).
func (p *Port) Stats() ofswitch.PortStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Counters
}

// Transmit records a copy of frame.
func (p *Port) Transmit(frame []byte) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frames = append(p.frames, append([]byte(nil), frame...))
	p.Counters.TxPackets++
	p.Counters.TxBytes += uint64(len(frame))
	return nil
}

// Frames returns the frames transmitted so far.
func (p *Port) Frames() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.frames...)
}

// AddPorts adds ports 1..n named p1..pn with MACs 02:00:00:00:00:0n to sw and returns them
// by OpenFlow number.
func AddPorts(sw ofswitch.Ports, n int) (map[uint32]*Port, error) {
	out := map[uint32]*Port{}
	for i := 1; i <= n; i++ {
		p := &Port{}
		d := ofswitch.PortDesc{OFPort: uint32(i), Name: "p" + itoa(i), MAC: [6]byte{2, 0, 0, 0, 0, byte(i)}}
		if err := sw.AddPort(d, p); err != nil {
			return nil, err
		}
		out[uint32(i)] = p
	}
	return out, nil
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
