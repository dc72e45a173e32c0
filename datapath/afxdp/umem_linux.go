package afxdp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// NewUMEM maps the packet memory and sets up its allocator. It needs no privilege: the memory is
// registered with the kernel (and charged to the memlock limit) only when the first socket is
// made with it, so tests and in-memory ports can use a UMEM without root.
func NewUMEM(opts UMEMOptions) (*UMEM, error) {
	if err := opts.validate(unix.Getpagesize()); err != nil {
		return nil, err
	}
	// mmap rather than make: page-aligned, so no chunk straddles a page, and outside the Go heap.
	mem, err := unix.Mmap(-1, 0, int(opts.NumChunks)*int(opts.ChunkSize),
		unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("map umem of %d chunks: %w", opts.NumChunks, err)
	}
	return newUMEM(mem, opts, unix.Munmap), nil
}
