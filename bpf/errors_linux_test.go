package bpf

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name        string
		err         error
		feature     string
		wantPerm    bool
		wantFeature bool
	}{
		{name: "EPERM is a permission error", err: fmt.Errorf("load: %w", unix.EPERM), wantPerm: true},
		{name: "EACCES is a permission error", err: unix.EACCES, wantPerm: true},
		{name: "EOPNOTSUPP is a missing feature", err: fmt.Errorf("attach: %w", unix.EOPNOTSUPP), feature: "native XDP", wantFeature: true},
		{name: "ErrNotSupported is a missing feature", err: fmt.Errorf("probe: %w", ebpf.ErrNotSupported), feature: "XSKMAP", wantFeature: true},
		{name: "kernel ENOTSUPP is a missing feature", err: errENOTSUPP, feature: "x", wantFeature: true},
		{name: "EOPNOTSUPP without a feature name stays as it is", err: unix.EOPNOTSUPP},
		{name: "EPERM from a program load is a permission error", err: &ebpf.VerifierError{Cause: unix.EPERM}, wantPerm: true},
		{name: "EACCES from the verifier is a rejection, not a permission error", err: &ebpf.VerifierError{Cause: unix.EACCES}},
		{name: "EINVAL stays as it is", err: unix.EINVAL, feature: "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, "CAP_X", tt.feature)
			var pe *PermissionError
			var fe *FeatureError
			if errors.As(got, &pe) != tt.wantPerm {
				t.Errorf("PermissionError: got %v, want %v (%v)", !tt.wantPerm, tt.wantPerm, got)
			}
			if errors.As(got, &fe) != tt.wantFeature {
				t.Errorf("FeatureError: got %v, want %v (%v)", !tt.wantFeature, tt.wantFeature, got)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("classified error %v does not wrap %v", got, tt.err)
			}
		})
	}
	t.Run("nil stays nil", func(t *testing.T) {
		if err := classify(nil, "CAP_X", "x"); err != nil {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("messages name the capability and the feature", func(t *testing.T) {
		if got, want := classify(unix.EPERM, needLoad, "").Error(),
			"permission denied (needs CAP_BPF (or CAP_SYS_ADMIN)): operation not permitted"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
		if got, want := classify(unix.EOPNOTSUPP, needAttach, "native XDP in the driver of br0").Error(),
			"kernel feature unavailable: native XDP in the driver of br0: operation not supported"; got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

func TestEnsureBPFFSRefusesOtherFilesystems(t *testing.T) {
	err := EnsureBPFFS(filepath.Join(t.TempDir(), "pins"))
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want ErrInvalidConfig (a temp dir is not bpffs)", err)
	}
}
