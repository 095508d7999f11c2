package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parley-chat/parley/server"
)

func TestParseFlagsDefaultsAndEnvironment(t *testing.T) {
	f, err := server.ParseFlags(nil, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	if f.Listen != "127.0.0.1:8080" || f.Config.DataDir != "parley-data" || f.Config.TLS != nil {
		t.Fatalf("zero-config defaults: %+v", f)
	}
	env := map[string]string{"PARLEY_LISTEN": "127.0.0.1:9", "PARLEY_DATA": "/x", "PARLEY_INVITE_ONLY": "1", "PARLEY_REGISTER_RATE": "2.5"}
	f, err = server.ParseFlags([]string{"-data", "/y"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if f.Listen != "127.0.0.1:9" || f.Config.DataDir != "/y" || !f.Config.InviteOnly || f.Config.RegisterRate != 2.5 {
		t.Fatalf("environment and flags: %+v", f)
	}
	if _, err := server.ParseFlags([]string{"-acme-host", "x.example", "-tls-cert", "c"}, func(string) string { return "" }); err == nil {
		t.Fatal("ACME together with a certificate accepted")
	}
}

// TestServesTLSFromCertificateFiles: -tls-cert/-tls-key make Serve speak
// HTTPS with that certificate.
func TestServesTLSFromCertificateFiles(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, pool := selfSigned(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := server.ParseFlags([]string{"-data", dir, "-tls-cert", certFile, "-tls-key", keyFile}, func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(context.Background(), f.Config)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background(), ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	resp, err := c.Get("https://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("HTTPS request: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("status %d, TLS %v", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("plain HTTP served on the TLS listener")
		}
	}
}

func selfSigned(t *testing.T) (certPEM, keyPEM []byte, pool *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), pool
}
