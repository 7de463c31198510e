package msmtest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gomsm/msm/core/internal/mcdial"
)

// TestCA is a certificate authority made for one test, and a server
// certificate for 127.0.0.1 it signed, in files memcached can read.
type TestCA struct {
	// Pool holds the CA certificate: a client that trusts it verifies the
	// server.
	Pool *x509.CertPool
	// CertFile is the CA certificate (PEM); ServerCertFile and
	// ServerKeyFile are the server's certificate and key (PEM).
	CertFile, ServerCertFile, ServerKeyFile string
}

// NewTestCA writes a fresh CA and a server certificate for 127.0.0.1 and
// localhost, valid for a day, into dir. (Over 50 lines: the two
// certificates and their files in the order they depend on each other.)
func NewTestCA(dir string) (*TestCA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "msmtest CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "memcached"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	ca := &TestCA{
		Pool:           x509.NewCertPool(),
		CertFile:       filepath.Join(dir, "ca.pem"),
		ServerCertFile: filepath.Join(dir, "server.pem"),
		ServerKeyFile:  filepath.Join(dir, "server-key.pem"),
	}
	ca.Pool.AddCert(caCert)
	for file, block := range map[string]*pem.Block{
		ca.CertFile:       {Type: "CERTIFICATE", Bytes: caDER},
		ca.ServerCertFile: {Type: "CERTIFICATE", Bytes: der},
		ca.ServerKeyFile:  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			return nil, err
		}
	}
	return ca, nil
}

// ClientTLS is the client side: a tls.Config that trusts only this CA.
func (ca *TestCA) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: ca.Pool, MinVersion: tls.VersionTLS12}
}

// Link describes how clients must talk to a memcached that speaks TLS or
// wants authentication, for [WithLink].
type Link struct {
	// CA, when set, makes memcached speak only TLS (-Z) with the server
	// certificate CA signed.
	CA *TestCA
	// Username and Password, when Username is set, make memcached require
	// ASCII authentication (-Y) with a file holding this one user. Dir is
	// where that file goes (a test's t.TempDir()).
	Username, Password, Dir string
}

// WithLink returns o with the flags that make memcached speak TLS and/or
// require authentication as l says, and a readiness probe that connects
// the way a client then must. It fails when the auth file cannot be
// written.
func WithLink(o Options, l Link) (Options, error) {
	var args []string
	if l.CA != nil {
		args = append(args, "-Z", "-o", "ssl_chain_cert="+l.CA.ServerCertFile+",ssl_key="+l.CA.ServerKeyFile)
	}
	if l.Username != "" {
		file := filepath.Join(l.Dir, "memcached-auth")
		if err := os.WriteFile(file, []byte(l.Username+":"+l.Password+"\n"), 0o600); err != nil {
			return o, err
		}
		args = append(args, "-Y", file)
	}
	o.ExtraArgs = append(args, o.ExtraArgs...)
	d := l.dialer()
	o.Ready = func(addr string) error { return linkReady(d, addr) }
	return o, nil
}

// DialContext connects to a memcached started with l the way a client
// must: TLS trusting l.CA, then authentication. Set it as a gomemcache
// Client's DialContext to talk to such a server directly in a test.
func (l Link) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return l.dialer().DialContext(ctx, network, addr)
}

// dialer is the client side of l.
func (l Link) dialer() *mcdial.Dialer {
	d := &mcdial.Dialer{Username: l.Username, Password: l.Password, Timeout: requestTimeout}
	if l.CA != nil {
		d.TLS = l.CA.ClientTLS()
	}
	return d
}

// linkReady connects as d does and sends "version" (through a proxy too:
// it is passed to a server).
func linkReady(d *mcdial.Dialer, addr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(500 * time.Millisecond))
	if _, err := fmt.Fprint(conn, "version\r\n"); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "VERSION ") {
		return errors.New("version: unexpected reply " + strings.TrimSpace(line))
	}
	return nil
}
