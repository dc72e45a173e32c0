// Package port defines what the datapath forwards between: a Port receives and transmits frames
// in batches, and a Frame is a packet in a chunk of some Memory, with headroom in front of it.
//
// A frame is never copied while it moves between ports that share a Memory (AF_XDP sockets on
// one UMEM): the receiving port hands out the chunk, the transmitting port queues the same chunk.
// Between ports on different memories, Transmit copies the frame into a chunk of its own memory
// and frees the original. The executor works on a frame in place through Data, and grows or
// shrinks it at the front (Push, Pull: encapsulation, decapsulation) and the back (SetLen).
//
// Ownership: a frame is owned by exactly one party. Receive gives the caller ownership of the
// frames it returns; Transmit takes ownership of every frame passed to it, whether it sends,
// copies or drops it (dropped frames are freed and counted by reason); Frame.Free gives a frame
// back to its memory. After handing a frame on, the caller must not touch it or its data.
//
// Threading: Receive and Wait are called by one goroutine per port (its RX goroutine);
// Transmit may be called by several goroutines (the RX goroutines of other ports) and serialises
// them itself. Nothing on the per-frame path allocates or builds an error.
package port

import (
	"errors"
	"time"
)

// ErrDown reports that a port's netdev is gone (or the port was closed); the port delivers no
// more frames and drops whatever it is asked to transmit.
var ErrDown = errors.New("port down")

// Port is a source and sink of frames: an AF_XDP socket on a netdev queue, or an in-memory fake.
type Port interface {
	// Name returns the port's name for logs and metrics, e.g. "veth1a2b/q0".
	Name() string
	// Receive moves up to len(frames) received frames into frames and returns how many; the
	// caller owns them. It returns ErrDown once the port is gone.
	Receive(frames []Frame) (int, error)
	// Transmit takes ownership of all frames and queues them for sending, returning how many it
	// queued; the others were dropped and counted in Stats.
	Transmit(frames []Frame) int
	// Wait blocks until frames may be ready to receive or timeout passes. It returns ErrDown
	// once the port is gone.
	Wait(timeout time.Duration) error
	// MaxFrameLen returns the longest frame the port can transmit.
	MaxFrameLen() int
	// Stats returns the port's counters.
	Stats() Stats
	// Close releases the port; frames it still holds go back to their memory.
	Close() error
}

// Memory is chunked frame memory with an allocator, such as an afxdp.UMEM. Its methods must be
// safe for concurrent use.
type Memory interface {
	// Chunk returns the whole chunk containing addr.
	Chunk(addr uint64) []byte
	// ChunkBase returns the address of the chunk containing addr.
	ChunkBase(addr uint64) uint64
	// Alloc takes a free chunk; the caller owns it.
	Alloc() (uint64, bool)
	// Free returns the chunk containing addr.
	Free(addr uint64)
	// Headroom returns the offset of frame data in a fresh chunk.
	Headroom() int
	// MaxFrameLen returns the longest frame a chunk holds behind the headroom.
	MaxFrameLen() int
}
