package bpf

// The steering program is compiled by bpf2go into steer_bpfel.o / steer_bpfeb.o (one per byte
// order) plus the Go bindings next to them; both are committed so a build needs no clang.
// Regenerate with `go generate ./bpf/` (clang, llvm-strip and libbpf-dev's headers).

//go:generate go tool bpf2go -cflags "-O2 -Wall -Werror -I/usr/include/x86_64-linux-gnu" steer steer.c
