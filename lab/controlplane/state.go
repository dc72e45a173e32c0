package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// stateFile is the name of the state record inside Options.StateDir.
const stateFile = "state.json"

// State records what Up made, so that another process (sluice-lab down, a later test) can find
// and remove it. Up rewrites it after every step.
type State struct {
	// StateDir is the directory holding this file, pki/, etcd data, kubeconfigs and logs/.
	StateDir string `json:"stateDir"`
	// BinDir is where the binaries came from.
	BinDir string `json:"binDir"`
	// Namespace and FabricNamespace are the control-plane and fabric namespaces.
	Namespace       string `json:"namespace"`
	FabricNamespace string `json:"fabricNamespace"`
	// Bridge is the fabric bridge inside FabricNamespace.
	Bridge string `json:"bridge"`
	// Namespaces lists the network namespaces Up created, in creation order.
	Namespaces []string `json:"namespaces"`
	// Processes lists the processes Up started, in start order.
	Processes []Process `json:"processes"`
	// APIServer is kube-apiserver's URL on the fabric (reachable from lab namespaces).
	APIServer string `json:"apiServer"`
	// HostAPIServer is the forwarder's URL in the root namespace; empty without forwarder.
	HostAPIServer string `json:"hostAPIServer,omitempty"`
	// PKIDir holds ca.crt/ca.key (see LoadPKI) and every certificate the lab issued.
	PKIDir string `json:"pkiDir"`
	// Kubeconfig is the admin kubeconfig that reaches APIServer (use it inside lab namespaces).
	Kubeconfig string `json:"kubeconfig"`
	// HostKubeconfig is the admin kubeconfig that reaches HostAPIServer (use it on the host).
	HostKubeconfig string `json:"hostKubeconfig,omitempty"`

	// Reused is set by Up when it found the control plane already running and started nothing.
	Reused bool `json:"-"`
}

// Process is one process Up started.
type Process struct {
	// Name is the program's role: etcd, kube-apiserver, kube-controller-manager, forwarder.
	Name string `json:"name"`
	// PID is its process ID.
	PID int `json:"pid"`
	// StartTime is field 22 of /proc/PID/stat at start; a PID whose start time differs is a
	// different process and is never signalled.
	StartTime uint64 `json:"startTime"`
	// Log is the file receiving its stdout and stderr.
	Log string `json:"log"`
}

// LoadState reads the state Up recorded in dir; the error wraps os.ErrNotExist when there is none.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &st, nil
}

// save writes the state atomically (temporary file and rename).
func (st *State) save() error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	tmp := filepath.Join(st.StateDir, stateFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(st.StateDir, stateFile)); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}
