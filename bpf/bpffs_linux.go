package bpf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// BPFFSRoot is where bpffs is conventionally mounted; pins live below it.
const BPFFSRoot = "/sys/fs/bpf"

// EnsureBPFFS makes dir a directory on a bpf filesystem: when dir lies below BPFFSRoot and no
// bpffs is mounted there (the default on some distributions), it mounts one, then creates dir.
// Mounting needs CAP_SYS_ADMIN. Note that `ip netns exec` remounts /sys, so a process started
// that way sees a fresh /sys/fs/bpf without the pins of the host.
func EnsureBPFFS(dir string) error {
	dir = filepath.Clean(dir)
	if dir == BPFFSRoot || strings.HasPrefix(dir, BPFFSRoot+"/") {
		ok, err := isBPFFS(BPFFSRoot)
		if err != nil && !os.IsNotExist(err) {
			return fmt.Errorf("check bpffs at %s: %w", BPFFSRoot, err)
		}
		if !ok {
			if err := os.MkdirAll(BPFFSRoot, 0o755); err != nil {
				return fmt.Errorf("mount bpffs at %s: %w", BPFFSRoot, err)
			}
			if err := unix.Mount("bpf", BPFFSRoot, "bpf", 0, "mode=0700"); err != nil {
				return fmt.Errorf("mount bpffs at %s: %w", BPFFSRoot, classify(err, needMount, ""))
			}
		}
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create pin directory %s: %w", dir, err)
	}
	return checkBPFFS(dir)
}

// checkBPFFS returns an error unless dir is on a bpf filesystem.
func checkBPFFS(dir string) error {
	ok, err := isBPFFS(dir)
	if err != nil {
		return fmt.Errorf("check pin directory %s: %w", dir, err)
	}
	if !ok {
		return fmt.Errorf("pin directory %s: %w: not on a bpf filesystem (mount one with `mount -t bpf bpf %s`, or call EnsureBPFFS)", dir, ErrInvalidConfig, BPFFSRoot)
	}
	return nil
}

func isBPFFS(path string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false, err
	}
	return uint32(st.Type) == unix.BPF_FS_MAGIC, nil
}
