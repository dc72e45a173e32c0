package ovstest

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicenet/sluice/internal/testutil"
)

const harnessFlows = `
# table 0: classify
table=0,priority=100,ip,nw_dst=10.0.0.2 actions=set_field:00:00:00:00:00:02->eth_dst,output:2
table=0,priority=90,tcp,tp_dst=80 actions=ct(table=1,zone=5)
table=0,priority=80,udp,udp_dst=53 actions=group:1
table=0,priority=70,in_port=4 actions=resubmit(,6)
table=0,priority=60,in_port=3 actions=learn(table=5,idle_timeout=60,priority=20,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),resubmit(,5)
table=0,priority=50,arp actions=controller(reason=action,userdata=01.02)
table=0,priority=40,in_port=2,ip actions=conjunction(7,1/2)
table=0,priority=40,ip,nw_src=192.0.2.0/24 actions=conjunction(7,2/2)
table=0,priority=40,conj_id=7,ip actions=mod_vlan_vid:10,output:1,strip_vlan,dec_ttl,output:3
table=1,priority=100,ct_state=+trk+new,tcp actions=ct(commit,zone=5,nat(dst=10.1.1.1:8080)),resubmit(,2)
table=1,priority=100,ct_state=+trk+est,tcp actions=output:1
table=2,priority=0,ip actions=dec_ttl,output:3
table=5,priority=0 actions=output:2
table=6,priority=0 actions=resubmit(,6)
`

const harnessGroups = `group_id=1,type=select,selection_method=hash,fields(ip_src,ip_dst),bucket=bucket_id:0,weight:100,actions=output:1,bucket=bucket_id:1,weight:100,actions=output:2`

func TestPrivilegedOVSHarness(t *testing.T) {
	testutil.RequirePrivileged(t)

	var (
		dir             string
		vswitchd, ovsdb int
	)
	t.Run("Lifecycle", func(t *testing.T) {
		opts := DefaultOptions()
		opts.Capture = true
		s := Start(t, opts)
		dir = s.Dir
		vswitchd, ovsdb = s.PIDs()
		for _, pid := range []int{vswitchd, ovsdb} {
			if err := syscall.Kill(pid, 0); err != nil {
				t.Fatalf("pid %d not running after Start: %v", pid, err)
			}
		}
		t.Run("NoTCPListener", func(t *testing.T) {
			for _, pid := range []int{vswitchd, ovsdb} {
				if l := tcpListeners(t, pid); len(l) > 0 {
					t.Errorf("pid %d listens on TCP: %v", pid, l)
				}
			}
		})
		t.Run("DummyPorts", func(t *testing.T) {
			out, err := s.OFCtl("", "dump-ports-desc")
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{" 1(p1):", " 2(p2):", " 3(p3):", " 4(p4):"} {
				if !strings.Contains(out, want) {
					t.Errorf("dump-ports-desc lacks %q:\n%s", want, out)
				}
			}
		})

		s.AddGroups(t, harnessGroups)
		s.AddFlows(t, harnessFlows)
		if got := len(s.DumpFlows(t)); got != 14 {
			t.Fatalf("got %d flows after AddFlows, want 14", got)
		}
		t.Run("BundleIsAtomic", func(t *testing.T) {
			err := s.LoadFlows("table=9,actions=output:1\ntable=9,ip,actions=bogus_action\n")
			if err == nil {
				t.Fatal("bundle with a bad flow was accepted")
			}
			if got := s.DumpFlows(t, "table=9"); len(got) != 0 {
				t.Errorf("failed bundle left flows behind: %v", got)
			}
		})

		for _, tc := range []struct {
			name   string
			flow   string
			ctNext []string
			want   string
			tables []int
		}{
			{"OutputWithSetField", "in_port=1,ip,nw_src=10.0.0.1,nw_dst=10.0.0.2,nw_ttl=64",
				nil, "output:2[dl_dst=00:00:00:00:00:02]", []int{0}},
			{"NoMatchDrops", "in_port=1,ipv6", nil, "drop", []int{0}},
			{"CTNewNATDecTTL", "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.3,nw_ttl=64,tp_src=1000,tp_dst=80",
				nil, "ct(commit,zone=5,nat(dst=10.1.1.1:8080)); ct(zone=5); output:3[nw_ttl=63]", []int{0, 1, 2}},
			{"CTEstablished", "in_port=2,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.3,tp_src=1000,tp_dst=80",
				[]string{"trk,est"}, "ct(zone=5); output:1", []int{0, 1}},
			{"CTEstablishedToInPortSkipped", "in_port=1,tcp,nw_src=10.0.0.1,nw_dst=10.0.0.3,tp_src=1000,tp_dst=80",
				[]string{"trk,est"}, "ct(zone=5)", []int{0, 1}},
			{"SelectGroupByHash", "in_port=3,udp,nw_src=10.0.0.1,nw_dst=10.0.0.3,udp_src=1000,udp_dst=53",
				nil, "output:2", []int{0}},
			{"ResubmitLoop", "in_port=4,tcp", nil, "error(Recursion too deep)", nil},
			{"Controller", "in_port=1,arp,arp_spa=10.0.0.1,arp_tpa=10.0.0.3,arp_op=1", nil, "controller(reason=1)", []int{0}},
			{"ConjunctionVLAN", "in_port=2,tcp,nw_src=192.0.2.7,nw_dst=198.51.100.1,nw_ttl=9,tp_dst=22",
				nil, "output:1[vlan=vid=10,pcp=0]; output:3[nw_ttl=8]", []int{0}},
			{"ConjunctionOneDimensionMisses", "in_port=1,tcp,nw_src=192.0.2.7,nw_dst=198.51.100.1,tp_dst=22",
				nil, "drop", []int{0}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tr, err := s.Trace(tc.flow, tc.ctNext)
				if err != nil {
					t.Fatal(err)
				}
				v, err := tr.Verdict()
				if err != nil {
					t.Fatal(err)
				}
				if got := v.Canonical(); got != tc.want {
					t.Errorf("verdict: got %q, want %q\n%s", got, tc.want, tr.Raw)
				}
				if tc.tables != nil && !slices.Equal(tr.Tables(), tc.tables) {
					t.Errorf("tables: got %v, want %v", tr.Tables(), tc.tables)
				}
			})
		}

		t.Run("TracePacketRunsLearn", func(t *testing.T) {
			frame := tcp4Frame(mac(0x44), mac(0x33), [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 9}, 1000, 81, 0x02)
			tr, err := s.TracePacket(3, frame, nil)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := tr.Verdict(); v.Canonical() != "output:2" {
				t.Errorf("verdict: got %q, want output:2\n%s", v.Canonical(), tr.Raw)
			}
			if !strings.Contains(tr.Passes[0].Flow, "dl_src=00:00:00:00:00:33") {
				t.Errorf("OVS parsed the frame as %q", tr.Passes[0].Flow)
			}
			learned := s.DumpFlows(t, "table=5,dl_dst=00:00:00:00:00:33")
			if len(learned) != 1 || !strings.Contains(learned[0], "actions=output:3") {
				t.Fatalf("learned flows: got %q, want one flow with actions=output:3", learned)
			}
			tr, err = s.Trace("in_port=3,dl_dst=00:00:00:00:00:33,dl_src=00:00:00:00:00:33", nil)
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := tr.Verdict(); v.Canonical() != "drop" {
				// The learned flow outputs to port 3, which is the input port: OVS skips it.
				t.Errorf("verdict through learned flow: got %q, want drop\n%s", v.Canonical(), tr.Raw)
			}
			if got := tr.Passes[0].Steps; len(got) != 2 || got[1].Priority != 20 {
				t.Errorf("steps: got %+v, want table 0 then the learned priority-20 flow", got)
			}
		})

		t.Run("InjectAndCapture", func(t *testing.T) {
			frame := tcp4Frame(mac(0x44), mac(0x11), [4]byte{10, 0, 0, 1}, [4]byte{10, 0, 0, 2}, 1000, 22, 0x02)
			if err := s.Inject("p1", frame); err != nil {
				t.Fatal(err)
			}
			var got [][]byte
			for range 100 { // the datapath thread transmits asynchronously
				got, _ = s.Captured("p2")
				if len(got) > 0 {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if len(got) != 1 {
				t.Fatalf("p2 transmitted %d frames, want 1", len(got))
			}
			want := slices.Clone(frame)
			copy(want[0:6], mac(0x02))
			if !slices.Equal(got[0], want) {
				t.Errorf("frame on p2:\n got %x\nwant %x", got[0], want)
			}
		})

		t.Run("Reset", func(t *testing.T) {
			s.Reset(t)
			if got := s.DumpFlows(t); len(got) != 0 {
				t.Errorf("flows after Reset: %v", got)
			}
		})
	})

	t.Run("NothingLeft", func(t *testing.T) {
		if dir == "" {
			t.Skip("Lifecycle did not start a switch")
		}
		if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("switch directory %s still exists (stat: %v)", dir, err)
		}
		for _, pid := range []int{vswitchd, ovsdb} {
			if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
				t.Errorf("pid %d still exists after cleanup (kill 0: %v)", pid, err)
			}
		}
	})
}

// tcpListeners returns the local addresses of TCP sockets in LISTEN state owned by pid.
func tcpListeners(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		l, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var found []string
	for _, file := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fs := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode
			if len(fs) >= 10 && fs[3] == "0A" && inodes[fs[9]] {
				found = append(found, fs[1])
			}
		}
		f.Close()
	}
	return found
}

func mac(last byte) []byte { return []byte{0, 0, 0, 0, 0, last} }

// tcp4Frame builds an Ethernet/IPv4/TCP frame with valid checksums and no payload.
func tcp4Frame(dst, src []byte, sip, dip [4]byte, sport, dport uint16, flags byte) []byte {
	b := make([]byte, 14+20+20)
	copy(b[0:], dst)
	copy(b[6:], src)
	binary.BigEndian.PutUint16(b[12:], 0x0800)
	ip := b[14:34]
	ip[0], ip[8], ip[9] = 0x45, 64, 6
	binary.BigEndian.PutUint16(ip[2:], 40)
	copy(ip[12:], sip[:])
	copy(ip[16:], dip[:])
	binary.BigEndian.PutUint16(ip[10:], ^csum(ip, 0))
	tcp := b[34:]
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	tcp[12], tcp[13] = 5<<4, flags
	binary.BigEndian.PutUint16(tcp[14:], 8192)
	pseudo := append(append(append([]byte{}, sip[:]...), dip[:]...), 0, 6, 0, 20)
	binary.BigEndian.PutUint16(tcp[16:], ^csum(tcp, csum(pseudo, 0)))
	return b
}

// csum is the ones'-complement sum of b folded to 16 bits, continuing from sum.
func csum(b []byte, sum uint16) uint16 {
	s := uint32(sum)
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s > 0xffff {
		s = s&0xffff + s>>16
	}
	return uint16(s)
}
