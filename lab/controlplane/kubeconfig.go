package controlplane

import (
	"fmt"
	"os"
	"strings"
)

// WriteKubeconfig writes a kubeconfig for one cluster, user and context named sluice-lab that
// reaches server (https://ADDR:PORT) trusting caFile and authenticating with the client
// certificate certFile/keyFile. Paths are referenced, not embedded, so the files stay readable.
func WriteKubeconfig(path, server, caFile, certFile, keyFile string) error {
	var b strings.Builder
	fmt.Fprintf(&b, `apiVersion: v1
kind: Config
clusters:
- name: sluice-lab
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: sluice-lab
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: sluice-lab
  context:
    cluster: sluice-lab
    user: sluice-lab
current-context: sluice-lab
`, server, caFile, certFile, keyFile)
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	return nil
}
