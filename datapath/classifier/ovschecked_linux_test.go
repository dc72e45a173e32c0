package classifier

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sluicenet/sluice/datapath/flow/flowtest"
	"github.com/sluicenet/sluice/internal/testutil"
)

var traceCookie = regexp.MustCompile(`(?m)^ 0\. .*cookie (0x[0-9a-f]+)|No match`)

// TestPrivilegedOVSChecked asks a real ovs-vswitchd the ovsChecked questions, each on a bridge
// of its own (a fresh classifier, so subtable order starts empty), and compares its answers
// with the ones TestOVSChecked holds this package to.
func TestPrivilegedOVSChecked(t *testing.T) {
	testutil.RequirePrivileged(t)
	o := flowtest.StartOVS(t, flowtest.OVSOptions{})
	for i, c := range ovsChecked {
		t.Run(c.name, func(t *testing.T) {
			o := o.For(t)
			br := fmt.Sprintf("chk%d", i)
			target := o.AddBridge(br)
			file := filepath.Join(t.TempDir(), "flows.txt")
			if err := os.WriteFile(file, []byte(c.flows+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if out, err := o.Try("ovs-ofctl", "-O", "OpenFlow15", "add-flows", target, file); err != nil {
				t.Fatalf("add-flows: %v\n%s", err, out)
			}
			if c.delete != "" {
				if out, err := o.Try("ovs-ofctl", "-O", "OpenFlow15", "--strict", "del-flows", target, c.delete); err != nil {
					t.Fatalf("del-flows: %v\n%s", err, out)
				}
				// OVS removes deleted flows from its classifier after an RCU grace period.
				time.Sleep(200 * time.Millisecond)
			}
			out := o.Appctl("ofproto/trace", br, "in_port=LOCAL,"+c.packet)
			m := traceCookie.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("no flow or miss in the trace:\n%s", out)
			}
			var got uint64
			if m[1] != "" {
				got, _ = strconv.ParseUint(m[1], 0, 64)
			}
			if got != c.want {
				t.Errorf("ovs-vswitchd answers cookie %#x, the table says %#x\n%s", got, c.want, out)
			}
		})
	}
}
