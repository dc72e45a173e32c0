package bpf

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/features"
	"github.com/cilium/ebpf/rlimit"
)

// Options configures Load. The zero value is valid: every zero field takes its default.
type Options struct {
	// PinPath is a directory on bpffs where the maps are pinned (created by EnsureBPFFS), so a
	// restarted process that loads with the same PinPath reuses them: interface configuration,
	// prefixes, ports, socket slots (sockets of a dead process are closed, so their slots are
	// empty) and counters. Empty: nothing is pinned; the maps live as long as the Steering and
	// any attached link.
	PinPath string
	// MaxSockets is the number of XSKMAP slots: at least the sum of Queues over all interfaces.
	// Default 1024.
	MaxSockets uint32
	// MaxInterfaces is the number of interfaces that can be configured. Default 1024.
	MaxInterfaces uint32
	// MaxPrefixes is the capacity of each prefix set (owned and kernel-owned). Default 4096.
	MaxPrefixes uint32
	// Logger receives the few events worth logging (an XDP mode fallback). Default: discard.
	Logger *slog.Logger
}

// DefaultOptions returns the defaults Load uses for zero fields: no pinning, 1024 socket
// slots, 1024 interfaces, 4096 prefixes per set and a discarding logger.
func DefaultOptions() Options {
	return Options{
		MaxSockets:    1024,
		MaxInterfaces: 1024,
		MaxPrefixes:   4096,
		Logger:        slog.New(slog.DiscardHandler),
	}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	if o.MaxSockets == 0 {
		o.MaxSockets = d.MaxSockets
	}
	if o.MaxInterfaces == 0 {
		o.MaxInterfaces = d.MaxInterfaces
	}
	if o.MaxPrefixes == 0 {
		o.MaxPrefixes = d.MaxPrefixes
	}
	if o.Logger == nil {
		o.Logger = d.Logger
	}
	return o
}

// Steering is the loaded steering program and its maps. Its methods may be called from any
// goroutine: every one of them is a single map operation or a read-only walk.
type Steering struct {
	objs steerObjects
	opts Options
}

// Load checks the kernel features the program needs, loads the program and creates its maps
// (or opens the pinned ones under opts.PinPath). Missing features give a *FeatureError,
// missing privileges a *PermissionError.
func Load(opts Options) (*Steering, error) {
	opts = opts.withDefaults()
	// Probe first: without CAP_BPF they fail with a clear permission error, while the memlock
	// adjustment below would fail with a misleading one.
	if err := features.HaveProgramType(ebpf.XDP); err != nil {
		return nil, fmt.Errorf("probe xdp programs: %w", classify(err, needLoad, "XDP programs (Linux 4.8)"))
	}
	if err := features.HaveMapType(ebpf.XSKMap); err != nil {
		return nil, fmt.Errorf("probe xskmap: %w", classify(err, needLoad, "XSKMAP (Linux 4.18, CONFIG_XDP_SOCKETS)"))
	}
	if err := features.HaveMapType(ebpf.LPMTrie); err != nil {
		return nil, fmt.Errorf("probe lpm trie: %w", classify(err, needLoad, "LPM trie maps (Linux 4.11)"))
	}
	// Kernels before 5.11 charge BPF memory to RLIMIT_MEMLOCK; later ones make this a no-op.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, fmt.Errorf("remove memlock limit: %w", classify(err, "CAP_SYS_RESOURCE", ""))
	}

	spec, err := loadSteer()
	if err != nil {
		return nil, fmt.Errorf("load steering object: %w", err)
	}
	spec.Maps[steerMapXsks].MaxEntries = opts.MaxSockets
	spec.Maps[steerMapIfaces].MaxEntries = opts.MaxInterfaces
	spec.Maps[steerMapOwned].MaxEntries = opts.MaxPrefixes
	spec.Maps[steerMapKernelOwned].MaxEntries = opts.MaxPrefixes
	if opts.PinPath != "" {
		if err := checkBPFFS(opts.PinPath); err != nil {
			return nil, err
		}
		for _, m := range spec.Maps {
			m.Pinning = ebpf.PinByName
		}
	}

	s := &Steering{opts: opts}
	err = spec.LoadAndAssign(&s.objs, &ebpf.CollectionOptions{Maps: ebpf.MapOptions{PinPath: opts.PinPath}})
	if errors.Is(err, ebpf.ErrMapIncompatible) {
		return nil, fmt.Errorf("load steering program: pinned maps under %s do not match this build or these options (remove them to start afresh): %w", opts.PinPath, err)
	}
	if err != nil {
		return nil, fmt.Errorf("load steering program: %w", classify(err, needLoad, ""))
	}
	return s, nil
}

// Close releases the program and map handles. Attached links keep the program running, and
// pinned maps stay on bpffs. No other method may run concurrently with or after Close.
func (s *Steering) Close() error {
	if err := s.objs.Close(); err != nil {
		return fmt.Errorf("close steering objects: %w", err)
	}
	return nil
}

// Unpin removes the maps' pins from bpffs (a no-op without Options.PinPath); the maps live on
// while this Steering or a program holds them.
func (s *Steering) Unpin() error {
	var errs []error
	for _, m := range s.maps() {
		if err := m.Unpin(); err != nil {
			errs = append(errs, fmt.Errorf("unpin map %s: %w", m, err))
		}
	}
	return errors.Join(errs...)
}

func (s *Steering) maps() []*ebpf.Map {
	o := &s.objs
	return []*ebpf.Map{o.Xsks, o.Ifaces, o.Owned, o.KernelOwned, o.TunnelPorts, o.Counters}
}

// SetInterface sets (or replaces) the configuration of interface ifindex; the program applies it
// to the next frame.
func (s *Steering) SetInterface(ifindex int, c InterfaceConfig) error {
	v, err := c.encode(s.opts.MaxSockets)
	if err != nil {
		return fmt.Errorf("set interface %d: %w", ifindex, err)
	}
	if err := s.objs.Ifaces.Put(uint32(ifindex), &v); err != nil {
		return fmt.Errorf("set interface %d: %w", ifindex, err)
	}
	return nil
}

// RemoveInterface deletes the configuration of ifindex: its frames go to the kernel
// (Counters.PassedNoConfig). Removing an unknown interface is not an error.
func (s *Steering) RemoveInterface(ifindex int) error {
	return deleteKey(s.objs.Ifaces, uint32(ifindex), "remove interface %d", ifindex)
}

// Interfaces returns the configuration of every interface, keyed by ifindex; after a restart
// with pinned maps it tells the caller what to reconcile.
func (s *Steering) Interfaces() (map[int]InterfaceConfig, error) {
	out := make(map[int]InterfaceConfig)
	err := walk(s.objs.Ifaces, func(k uint32, v steerIfaceConfig) { out[int(k)] = decodeInterfaceConfig(v) })
	if err != nil {
		return nil, fmt.Errorf("list interfaces: %w", err)
	}
	return out, nil
}

// SetSocket puts the AF_XDP socket fd into XSKMAP slot: it receives the frames of the
// interface and queue whose SlotBase+queue equals slot. The socket must be bound to exactly that
// interface and queue, or the kernel drops the redirected frames. The map does not keep the
// socket alive: closing the socket (or the death of its process) empties the slot, and the
// slot's frames go to the kernel again.
func (s *Steering) SetSocket(slot uint32, fd int) error {
	if slot >= s.opts.MaxSockets {
		return fmt.Errorf("set socket slot %d: %w: the socket map has %d slots", slot, ErrInvalidConfig, s.opts.MaxSockets)
	}
	if err := s.objs.Xsks.Put(slot, uint32(fd)); err != nil {
		return fmt.Errorf("set socket slot %d: %w", slot, classify(err, needLoad, ""))
	}
	return nil
}

// DeleteSocket empties XSKMAP slot: its frames go to the kernel again (Counters.PassedNoSocket).
// Emptying an empty slot is not an error.
func (s *Steering) DeleteSocket(slot uint32) error {
	return deleteKey(s.objs.Xsks, slot, "delete socket slot %d", slot)
}

// AddOwnedPrefix makes destinations in p (and ARP/ND targets in p) belong to the datapath on
// selective interfaces. Host bits of p are ignored.
func (s *Steering) AddOwnedPrefix(p netip.Prefix) error {
	return addPrefix(s.objs.Owned, p, "add owned prefix")
}

// DeleteOwnedPrefix removes p from the owned prefixes; a missing prefix is not an error.
func (s *Steering) DeleteOwnedPrefix(p netip.Prefix) error {
	return deletePrefix(s.objs.Owned, p, "delete owned prefix")
}

// OwnedPrefixes lists the owned prefixes.
func (s *Steering) OwnedPrefixes() ([]netip.Prefix, error) {
	return listPrefixes(s.objs.Owned, "list owned prefixes")
}

// AddKernelOwned makes destinations in p (and ARP/ND targets in p) go to the kernel on every
// interface, in every mode. Host bits of p are ignored.
func (s *Steering) AddKernelOwned(p netip.Prefix) error {
	return addPrefix(s.objs.KernelOwned, p, "add kernel-owned prefix")
}

// DeleteKernelOwned removes p from the kernel-owned prefixes; a missing prefix is not an error.
func (s *Steering) DeleteKernelOwned(p netip.Prefix) error {
	return deletePrefix(s.objs.KernelOwned, p, "delete kernel-owned prefix")
}

// KernelOwned lists the kernel-owned prefixes.
func (s *Steering) KernelOwned() ([]netip.Prefix, error) {
	return listPrefixes(s.objs.KernelOwned, "list kernel-owned prefixes")
}

// AddTunnelPort sends UDP datagrams with destination port port to the datapath on selective
// interfaces (6081 for Geneve, 4789 for VXLAN).
func (s *Steering) AddTunnelPort(port uint16) error {
	if err := s.objs.TunnelPorts.Put(port, uint8(1)); err != nil {
		return fmt.Errorf("add tunnel port %d: %w", port, err)
	}
	return nil
}

// DeleteTunnelPort removes a tunnel port; a missing port is not an error.
func (s *Steering) DeleteTunnelPort(port uint16) error {
	return deleteKey(s.objs.TunnelPorts, port, "delete tunnel port %d", port)
}

// TunnelPorts lists the tunnel ports.
func (s *Steering) TunnelPorts() ([]uint16, error) {
	var out []uint16
	if err := walk(s.objs.TunnelPorts, func(k uint16, _ uint8) { out = append(out, k) }); err != nil {
		return nil, fmt.Errorf("list tunnel ports: %w", err)
	}
	return out, nil
}

// Counters reads the verdict counters, summed across CPUs.
func (s *Steering) Counters() (Counters, error) {
	var (
		c      Counters
		perCPU []uint64
	)
	for i := range numCounters {
		if err := s.objs.Counters.Lookup(uint32(i), &perCPU); err != nil {
			return Counters{}, fmt.Errorf("read counter %d: %w", i, err)
		}
		c.add(i, perCPU)
	}
	return c, nil
}

func addPrefix(m *ebpf.Map, p netip.Prefix, op string) error {
	k, err := prefixKey(p)
	if err != nil {
		return fmt.Errorf("%s %v: %w", op, p, err)
	}
	if err := m.Put(&k, uint8(1)); err != nil {
		return fmt.Errorf("%s %v: %w", op, p, err)
	}
	return nil
}

func deletePrefix(m *ebpf.Map, p netip.Prefix, op string) error {
	k, err := prefixKey(p)
	if err != nil {
		return fmt.Errorf("%s %v: %w", op, p, err)
	}
	return deleteKey(m, &k, "%s %v", op, p)
}

func listPrefixes(m *ebpf.Map, op string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	if err := walk(m, func(k steerPrefixKey, _ uint8) { out = append(out, prefixFromKey(k)) }); err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return out, nil
}

// walk calls fn for every entry of m.
func walk[K, V any](m *ebpf.Map, fn func(K, V)) error {
	var (
		k K
		v V
	)
	it := m.Iterate()
	for it.Next(&k, &v) {
		fn(k, v)
	}
	return it.Err()
}

// deleteKey deletes key from m; a missing key is success, so deletes are idempotent.
func deleteKey(m *ebpf.Map, key any, format string, args ...any) error {
	err := m.Delete(key)
	if err == nil || errors.Is(err, ebpf.ErrKeyNotExist) {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
