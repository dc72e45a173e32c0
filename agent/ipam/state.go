package ipam

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// On-disk layout of the state directory:
//
//	lock              flock(2) target; held exclusively for every operation
//	<ip>              one allocation (IP in canonical text form), written whole, then linked
//	.tmp-<ip>         an allocation being written; an orphan if seen while holding the lock
//	last-ipv4         round-robin cursor per family (last address handed out)
//	last-ipv6
//
// An allocation file reaches its final name only by link(2) from a complete, fsynced temporary
// file, so a reader never sees a half-written allocation and link's EEXIST is a second guard
// (besides the lock) against two writers claiming one address.

const (
	lockName  = "lock"
	tmpPrefix = ".tmp-"
	lastName  = "last-"
	header    = "sluice-ipam 1"
)

// ErrCorrupt is wrapped by errors from parsing a damaged allocation file.
var ErrCorrupt = errors.New("corrupt allocation file")

// encodeAllocation renders a as the content of its state file.
func encodeAllocation(a Allocation) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s\nip %s\ncidr %s\ncontainer %s\nifname %s\nnamespace %s\nname %s\n",
		header, a.IP, a.CIDR, a.Key.ContainerID, a.Key.IfName, a.Pod.Namespace, a.Pod.Name)
	return b.Bytes()
}

// ParseAllocation parses the content of the allocation file called name (its base name is the
// allocated IP). Every error names the file and wraps ErrCorrupt.
func ParseAllocation(name string, data []byte) (Allocation, error) {
	a, err := parseAllocation(filepath.Base(name), data)
	if err != nil {
		return Allocation{}, fmt.Errorf("parse %s: %w: %w", name, ErrCorrupt, err)
	}
	return a, nil
}

func parseAllocation(base string, data []byte) (Allocation, error) {
	var a Allocation
	text := string(data)
	if !strings.HasSuffix(text, "\n") {
		return a, errors.New("truncated: no final newline")
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if lines[0] != header {
		return a, fmt.Errorf("header %q, want %q", clip(lines[0]), header)
	}
	fields := map[string]string{}
	for i, l := range lines[1:] {
		k, v, ok := strings.Cut(l, " ")
		if !ok {
			return a, fmt.Errorf("line %d: no space between key and value", i+2)
		}
		switch k {
		case "ip", "cidr", "container", "ifname", "namespace", "name":
		default:
			return a, fmt.Errorf("line %d: unknown key %q", i+2, clip(k))
		}
		if _, dup := fields[k]; dup {
			return a, fmt.Errorf("line %d: duplicate key %q", i+2, k)
		}
		if err := checkValue(k, v); err != nil {
			return a, fmt.Errorf("line %d: %w", i+2, err)
		}
		fields[k] = v
	}
	for _, k := range []string{"ip", "cidr", "container", "ifname", "namespace", "name"} {
		if _, ok := fields[k]; !ok {
			return a, fmt.Errorf("missing key %q", k)
		}
	}
	var err error
	if a.IP, err = netip.ParseAddr(fields["ip"]); err != nil {
		return a, fmt.Errorf("ip: %w", err)
	}
	if a.CIDR, err = netip.ParsePrefix(fields["cidr"]); err != nil {
		return a, fmt.Errorf("cidr: %w", err)
	}
	if a.IP.Zone() != "" || a.IP.Is4In6() {
		return a, fmt.Errorf("ip %s: zoned or mapped address", clip(fields["ip"]))
	}
	if a.IP.String() != base {
		return a, fmt.Errorf("ip %s does not match the file name %q", a.IP, clip(base))
	}
	if a.CIDR.Masked() != a.CIDR || !a.CIDR.Contains(a.IP) {
		return a, fmt.Errorf("ip %s is not inside cidr %s", a.IP, a.CIDR)
	}
	a.Key = Key{ContainerID: fields["container"], IfName: fields["ifname"]}
	a.Pod = Pod{Namespace: fields["namespace"], Name: fields["name"]}
	if a.Key.ContainerID == "" || a.Key.IfName == "" {
		return a, errors.New("empty container or ifname")
	}
	return a, nil
}

// checkValue rejects values that could not be written back unchanged.
func checkValue(field, v string) error {
	if strings.ContainsAny(v, "\n\r\x00") {
		return fmt.Errorf("%s contains a newline or NUL", field)
	}
	return nil
}

// clip shortens s for an error message.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// state is the allocator's view of the directory, read while holding the lock.
type state struct {
	byIP    map[netip.Addr]Allocation // parsed allocations
	corrupt map[netip.Addr]error      // files named by an IP that do not parse: never reused
	last    map[bool]netip.Addr       // cursor per family, keyed by Is4
}

// taken reports whether ip has a file of any kind.
func (s *state) taken(ip netip.Addr) bool {
	if _, ok := s.byIP[ip]; ok {
		return true
	}
	_, ok := s.corrupt[ip]
	return ok
}

// readStateLocked reads every allocation file in dir and removes orphaned temporary files
// (they belong to a writer that died while holding the lock, which we now hold).
func (al *Allocator) readStateLocked() (*state, error) {
	ents, err := os.ReadDir(al.dir)
	if err != nil {
		return nil, fmt.Errorf("read state dir: %w", err)
	}
	s := &state{
		byIP:    map[netip.Addr]Allocation{},
		corrupt: map[netip.Addr]error{},
		last:    map[bool]netip.Addr{},
	}
	for _, e := range ents {
		name := e.Name()
		path := filepath.Join(al.dir, name)
		switch {
		case name == lockName:
			continue
		case strings.HasPrefix(name, tmpPrefix):
			if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("remove orphaned %s: %w", path, err)
			}
			al.log.Info("removed orphaned temporary allocation file", "file", path)
			continue
		case strings.HasPrefix(name, lastName):
			data, err := os.ReadFile(path)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", path, err)
			}
			ip, err := netip.ParseAddr(strings.TrimSpace(string(data)))
			if err != nil {
				al.log.Warn("ignoring unreadable round-robin cursor", "file", path, "err", err)
				continue
			}
			s.last[ip.Is4()] = ip
			continue
		}
		ip, err := netip.ParseAddr(name)
		if err != nil || ip.String() != name {
			al.log.Warn("ignoring unknown file in ipam state dir", "file", path)
			continue
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		a, err := ParseAllocation(path, data)
		if err != nil {
			// The address stays taken: we cannot tell who owns it.
			s.corrupt[ip] = err
			al.log.Error("corrupt allocation file; its address stays reserved until the file is removed", "file", path, "err", err)
			continue
		}
		s.byIP[ip] = a
	}
	return s, nil
}

// writeAllocationLocked makes a's file durable: write a temporary file, fsync it, link it to its
// final name (fails if the address is already taken), fsync the directory, remove the temporary.
func (al *Allocator) writeAllocationLocked(s *state, a Allocation) error {
	if err := al.bumpGenLocked(); err != nil {
		return err
	}
	final := filepath.Join(al.dir, a.IP.String())
	tmp := filepath.Join(al.dir, tmpPrefix+a.IP.String())
	if err := writeFile(tmp, encodeAllocation(a), os.O_EXCL, true); err != nil {
		return err
	}
	al.crashPoint("tmp-written")
	if err := os.Link(tmp, final); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("claim %s: %w", a.IP, err)
	}
	al.crashPoint("linked")
	if err := syncDir(al.dir); err != nil {
		return err
	}
	al.crashPoint("dir-synced")
	s.byIP[a.IP] = a
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("remove %s: %w", tmp, err)
	}
	return nil
}

// writeLastLocked records the round-robin cursor of ip's family (write, rename; no fsync). Losing
// it in a crash only moves the cursor back; correctness rests on the allocation files.
func (al *Allocator) writeLastLocked(ip netip.Addr) error {
	fam := "ipv6"
	if ip.Is4() {
		fam = "ipv4"
	}
	final := filepath.Join(al.dir, lastName+fam)
	tmp := filepath.Join(al.dir, tmpPrefix+lastName+fam)
	if err := writeFile(tmp, []byte(ip.String()+"\n"), os.O_TRUNC, false); err != nil {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}

// removeAllocationLocked deletes ip's file and syncs the directory; a missing file is not an error.
func (al *Allocator) removeAllocationLocked(s *state, ip netip.Addr) error {
	if err := al.bumpGenLocked(); err != nil {
		return err
	}
	path := filepath.Join(al.dir, ip.String())
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	delete(s.byIP, ip)
	return syncDir(al.dir)
}

// readGenLocked returns the generation counter kept in the first 8 bytes of the lock file (0 if
// the file is new).
func (al *Allocator) readGenLocked() (uint64, error) {
	var b [8]byte
	n, err := al.lock.ReadAt(b[:], 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0, fmt.Errorf("read generation from %s: %w", al.lock.Name(), err)
	}
	if n < len(b) {
		return 0, nil
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

// bumpGenLocked advances the generation counter once per operation, before the operation's first
// change to the directory, and keeps the cache marked current. Other processes see the write
// through the page cache; it needs no fsync because a restarted process starts with no cache.
func (al *Allocator) bumpGenLocked() error {
	if al.bumped {
		return nil
	}
	gen, err := al.readGenLocked()
	if err != nil {
		return err
	}
	gen++
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], gen)
	if _, err := al.lock.WriteAt(b[:], 0); err != nil {
		return fmt.Errorf("write generation to %s: %w", al.lock.Name(), err)
	}
	al.cacheGen, al.bumped = gen, true
	return nil
}

// writeFile creates path with data, fsyncing it if sync is set.
func writeFile(path string, data []byte, flag int, sync bool) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|flag, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
