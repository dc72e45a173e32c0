package controlplane

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"os"
	"slices"
	"testing"
)

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	p, err := NewPKI(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadPKI(dir)
	if err != nil {
		t.Fatalf("load pki: %v", err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(p.cert)

	t.Run("serving cert valid for fabric address and service name", func(t *testing.T) {
		certFile, keyFile, err := p.ServingCert("apiserver", []net.IP{net.ParseIP("10.77.0.2")}, []string{"kubernetes.default.svc"})
		if err != nil {
			t.Fatal(err)
		}
		c := leaf(t, certFile, keyFile)
		for _, host := range []string{"10.77.0.2", "kubernetes.default.svc"} {
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
				t.Errorf("verify for %s: %v", host, err)
			}
		}
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, DNSName: "10.77.0.3"}); err == nil {
			t.Errorf("verify for 10.77.0.3: got nil error, want a name mismatch")
		}
	})

	t.Run("client cert from a loaded CA carries user and groups", func(t *testing.T) {
		certFile, keyFile, err := loaded.ClientCert("node1", "system:node:node1", "system:nodes")
		if err != nil {
			t.Fatal(err)
		}
		c := leaf(t, certFile, keyFile)
		if _, err := c.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Fatalf("verify client cert: %v", err)
		}
		if c.Subject.CommonName != "system:node:node1" || !slices.Equal(c.Subject.Organization, []string{"system:nodes"}) {
			t.Fatalf("got subject %v, want CN=system:node:node1 O=system:nodes", c.Subject)
		}
	})

	t.Run("service-account keys are a PEM RSA pair", func(t *testing.T) {
		priv, pub, err := p.ServiceAccountKeys()
		if err != nil {
			t.Fatal(err)
		}
		for file, typ := range map[string]string{priv: "RSA PRIVATE KEY", pub: "PUBLIC KEY"} {
			b, _ := os.ReadFile(file)
			blk, _ := pem.Decode(b)
			if blk == nil || blk.Type != typ {
				t.Errorf("%s: got %v, want a %s block", file, blk, typ)
			}
		}
	})
}

// leaf loads a certificate/key pair (proving they match) and returns the parsed certificate.
func leaf(t *testing.T, certFile, keyFile string) *x509.Certificate {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatalf("load pair: %v", err)
	}
	c, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	return c
}
