// Package afxdp is Sluice's AF_XDP layer: a UMEM, the four rings of an AF_XDP socket, and the
// socket calls that tie them to a netdev queue, written directly on golang.org/x/sys/unix.
//
// # Memory and rings
//
// A UMEM is one anonymous memory area cut into equal chunks (2 KiB by default). Every packet the
// datapath sees lives in a chunk: the kernel writes received frames into chunks and reads frames
// to send from chunks, so moving a packet between two sockets that share a UMEM is a matter of
// passing its address along. One UMEM serves every socket of the process: the first socket
// registers it (XDP_UMEM_REG), every further socket binds with XDP_SHARED_UMEM and the file
// descriptor of a socket that already uses it.
//
// Each socket has four single-producer/single-consumer rings shared with the kernel, each a power
// of two long, each with a producer index, a consumer index and a flags word:
//
//	receive:  UMEM ──(we)──> fill ring ──(kernel writes a frame)──> RX ring ──(we)──> caller
//	transmit: caller ──(we)──> TX ring ──(kernel sends)──> completion ring ──(we)──> UMEM
//
// We produce into the fill and TX rings and consume from the RX and completion rings; the kernel
// does the opposite. Each side keeps cached copies of the other side's index and touches the
// shared index (with sync/atomic, which orders the descriptor writes before the index store) only
// when its cache runs out, so a batch of frames costs two atomic operations, not two per frame.
// The rings are mmap'd from the socket at the offsets the kernel reports with XDP_MMAP_OFFSETS.
// Each (netdev, queue) socket has its own fill and completion rings, also when sharing a UMEM.
//
// # Frame ownership
//
// A chunk is always owned by exactly one party, and each call says how ownership moves:
//
//   - UMEM.Alloc/AllocBatch: the allocator hands the chunk to the caller.
//   - Socket.Refill: chunks move from the allocator to the kernel (fill ring).
//   - Socket.Receive: chunks move from the kernel (RX ring) to the caller.
//   - Socket.Transmit: chunks move from the caller to the kernel (TX ring); those it could not
//     queue stay with the caller.
//   - Socket.Complete (also run by Kick): sent chunks move from the kernel back to the allocator.
//   - UMEM.Free/FreeBatch: the caller gives the chunk back to the allocator.
//   - Socket.Close: every chunk still in one of the socket's rings returns to the allocator.
//
// The allocator tracks which chunks are out; freeing a chunk that is already free is counted
// (UMEM.DoubleFrees) and ignored rather than corrupting the free list.
//
// # Threading
//
// A Socket has a receive side (Refill, Receive, Wait, NeedsRXWakeup) and a transmit side
// (Transmit, Kick, Complete). Each side must be driven by one goroutine at a time (or under the
// caller's lock); the two sides may run concurrently. The UMEM allocator is safe for concurrent
// use and is meant to be used in batches.
//
// # Copy and zero-copy, wakeups and kicks
//
// Bind asks for copy mode (XDP_COPY), zero-copy (XDP_ZEROCOPY) or lets the kernel choose
// (zero-copy where the driver has it). veth only has copy mode. With XDP_USE_NEED_WAKEUP the
// kernel sets a flag on the fill and TX rings when it needs a syscall to make progress; in copy
// mode transmission only ever happens inside sendto(2), a budget of frames per call, so Kick
// calls sendto in a loop and treats EAGAIN, EBUSY and ENOBUFS as "call again".
package afxdp
