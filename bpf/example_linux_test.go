package bpf_test

import (
	"log"
	"net/netip"

	"github.com/sluicenet/sluice/bpf"
)

// The setup of a node: pod ports in mode all, the uplink selective, everything pinned so a
// restarted datapath keeps its interfaces. (Compiled, not run: it needs root.)
func Example() {
	const pins = "/sys/fs/bpf/sluice"
	if err := bpf.EnsureBPFFS(pins); err != nil {
		log.Fatal(err)
	}
	s, err := bpf.Load(bpf.Options{PinPath: pins})
	if err != nil {
		log.Fatal(err) // *bpf.PermissionError or *bpf.FeatureError name what is missing
	}
	defer s.Close()

	const podIfindex, uplinkIfindex = 5, 2
	_ = s.SetInterface(podIfindex, bpf.InterfaceConfig{Mode: bpf.ModeAll, SlotBase: 0, Queues: 1})
	_ = s.SetInterface(uplinkIfindex, bpf.InterfaceConfig{Mode: bpf.ModeSelective, SlotBase: 8, Queues: 4,
		NodePortMin: 30000, NodePortMax: 32767})
	_ = s.AddTunnelPort(6081)
	_ = s.AddOwnedPrefix(netip.MustParsePrefix("10.244.0.0/16"))
	_ = s.AddKernelOwned(netip.MustParsePrefix("10.244.0.1/32")) // the gateway's own address

	a, err := s.Attach(uplinkIfindex, bpf.AttachAuto)
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("xdp on the uplink: %v", a.Mode)
	_ = a.Pin(pins + "/link_uplink")
	_ = a.Close() // stays attached: pinned

	// datapath/afxdp then registers a socket per queue: s.SetSocket(8+queue, socketFD).
}
