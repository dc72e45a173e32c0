package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// PKI is the lab's certificate authority on disk: ca.crt and ca.key in Dir. Certificates it
// issues are written next to them as NAME.crt and NAME.key.
type PKI struct {
	// Dir holds the CA and every issued certificate.
	Dir  string
	cert *x509.Certificate
	key  crypto.Signer
}

// CACert is the path of the CA certificate (PEM).
func (p *PKI) CACert() string { return filepath.Join(p.Dir, "ca.crt") }

// NewPKI creates a fresh CA (ECDSA P-256, ten years) in dir.
func NewPKI(dir string) (*PKI, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create pki dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ca key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: "sluice-lab-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := sign(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("self-sign ca: %w", err)
	}
	p := &PKI{Dir: dir, key: key}
	if p.cert, err = x509.ParseCertificate(der); err != nil {
		return nil, fmt.Errorf("parse ca: %w", err)
	}
	if err := writePair(dir, "ca", der, key); err != nil {
		return nil, err
	}
	return p, nil
}

// LoadPKI reads the CA that NewPKI wrote to dir, so more certificates can be issued later (node
// identities, for instance).
func LoadPKI(dir string) (*PKI, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("read ca: %w", err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		return nil, fmt.Errorf("read ca key: %w", err)
	}
	cb, _ := pem.Decode(certPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, errors.New("ca files in " + dir + " are not PEM")
	}
	p := &PKI{Dir: dir}
	if p.cert, err = x509.ParseCertificate(cb.Bytes); err != nil {
		return nil, fmt.Errorf("parse ca: %w", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse ca key: %w", err)
	}
	var ok bool
	if p.key, ok = k.(crypto.Signer); !ok {
		return nil, errors.New("ca key cannot sign")
	}
	return p, nil
}

// ServingCert issues a server certificate NAME.crt/NAME.key valid for the given IPs and DNS
// names, and returns the two paths.
func (p *PKI) ServingCert(name string, ips []net.IP, dns []string) (certFile, keyFile string, err error) {
	return p.issue(name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: name},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: ips,
		DNSNames:    dns,
	})
}

// ClientCert issues a client certificate NAME.crt/NAME.key whose subject kube-apiserver reads as
// user user in groups (CN and O), and returns the two paths.
func (p *PKI) ClientCert(name, user string, groups ...string) (certFile, keyFile string, err error) {
	return p.issue(name, &x509.Certificate{
		Subject:     pkix.Name{CommonName: user, Organization: groups},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (p *PKI) issue(name string, tmpl *x509.Certificate) (string, string, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate %s key: %w", name, err)
	}
	der, err := sign(tmpl, p.cert, key.Public(), p.key)
	if err != nil {
		return "", "", fmt.Errorf("sign %s: %w", name, err)
	}
	if err := writePair(p.Dir, name, der, key); err != nil {
		return "", "", err
	}
	return filepath.Join(p.Dir, name+".crt"), filepath.Join(p.Dir, name+".key"), nil
}

// ServiceAccountKeys writes the RSA key pair kube-apiserver signs service-account tokens with
// (sa.key, PKCS#1) and verifies them with (sa.pub, PKIX), and returns the two paths.
func (p *PKI) ServiceAccountKeys() (privFile, pubFile string, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return "", "", fmt.Errorf("generate service-account key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return "", "", fmt.Errorf("marshal service-account public key: %w", err)
	}
	privFile, pubFile = filepath.Join(p.Dir, "sa.key"), filepath.Join(p.Dir, "sa.pub")
	if err := writePEM(privFile, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600); err != nil {
		return "", "", err
	}
	if err := writePEM(pubFile, "PUBLIC KEY", pub, 0o644); err != nil {
		return "", "", err
	}
	return privFile, pubFile, nil
}

// sign fills serial and validity (from an hour ago, to cover clock skew, for ten years) and
// creates the certificate.
func sign(tmpl, parent *x509.Certificate, pub crypto.PublicKey, key crypto.Signer) ([]byte, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = time.Now().Add(-time.Hour)
	tmpl.NotAfter = tmpl.NotBefore.AddDate(10, 0, 0)
	return x509.CreateCertificate(rand.Reader, tmpl, parent, pub, key)
}

func writePair(dir, name string, der []byte, key crypto.Signer) error {
	k, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("marshal %s key: %w", name, err)
	}
	if err := writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", der, 0o644); err != nil {
		return err
	}
	return writePEM(filepath.Join(dir, name+".key"), "PRIVATE KEY", k, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
