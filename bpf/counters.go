package bpf

// Counter indexes of the `counters` map; they mirror enum steer_counter in steer.c.
const (
	counterRedirected = iota
	counterPassedKernelOwned
	counterPassedNotOwned
	counterPassedNoConfig
	counterPassedNoSocket
	counterPassedQueueRange
	counterPassedMalformed
	numCounters
)

// Counters holds the steering program's verdict counts, summed over all CPUs, since the counter
// map was created (they survive a restart when the maps are pinned).
type Counters struct {
	// Redirected counts frames handed to an AF_XDP socket.
	Redirected uint64
	// PassedKernelOwned counts frames passed because their destination (or ARP/ND target) is
	// kernel-owned.
	PassedKernelOwned uint64
	// PassedNotOwned counts frames a selective interface passed because no rule claimed them.
	PassedNotOwned uint64
	// PassedNoConfig counts frames from an interface with no configuration.
	PassedNoConfig uint64
	// PassedNoSocket counts frames the datapath wanted but whose XSKMAP slot was empty.
	PassedNoSocket uint64
	// PassedQueueRange counts frames the datapath wanted that arrived on an RX queue beyond the
	// interface's InterfaceConfig.Queues.
	PassedQueueRange uint64
	// PassedMalformed counts frames too short for a header they announce.
	PassedMalformed uint64
}

// field returns the Counters field for a counter index, nil for an unknown one.
func (c *Counters) field(i int) *uint64 {
	switch i {
	case counterRedirected:
		return &c.Redirected
	case counterPassedKernelOwned:
		return &c.PassedKernelOwned
	case counterPassedNotOwned:
		return &c.PassedNotOwned
	case counterPassedNoConfig:
		return &c.PassedNoConfig
	case counterPassedNoSocket:
		return &c.PassedNoSocket
	case counterPassedQueueRange:
		return &c.PassedQueueRange
	case counterPassedMalformed:
		return &c.PassedMalformed
	}
	return nil
}

// Passed returns the number of frames passed to the kernel for any reason.
func (c Counters) Passed() uint64 {
	return c.PassedKernelOwned + c.PassedNotOwned + c.PassedNoConfig + c.PassedNoSocket +
		c.PassedQueueRange + c.PassedMalformed
}

// add adds the per-CPU values of counter index i.
func (c *Counters) add(i int, perCPU []uint64) {
	f := c.field(i)
	if f == nil {
		return
	}
	for _, v := range perCPU {
		*f += v
	}
}
