package app

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/ossa-platform/ossa/internal/auth"
	"github.com/ossa-platform/ossa/internal/config"
	"github.com/ossa-platform/ossa/internal/testenv"
)

const testInternalSecret = "split-mode-internal-secret-0123456789abcdef"

// splitConfig is testConfig for one target of a split deployment.
func splitConfig(t *testing.T, target string) config.Config {
	t.Helper()
	cfg := testConfig(t, "--target="+target)
	cfg.Auth.InternalSecret = testInternalSecret
	return cfg
}

// TestSplitMode runs the gateway and discovery as two processes would: the
// gateway authenticates and proxies, discovery trusts only what it signs.
func TestSplitMode(t *testing.T) {
	disc := newApp(t, splitConfig(t, "discovery"))
	discURL := run(t, disc)
	gwCfg := splitConfig(t, "gateway")
	gwCfg.Discovery.URL = discURL
	gw := newApp(t, gwCfg)
	gwURL := run(t, gw)

	// Through the gateway: register, list, get.
	status, _, data := request(t, http.MethodPost, gwURL+"/api/v1/agents", testAdminKey, manifestFor("echo"), "application/yaml")
	require.Equal(t, http.StatusCreated, status, "%s", data)
	var reg struct{ Agent struct{ ID string } }
	require.NoError(t, json.Unmarshal(data, &reg))
	status, _, data = request(t, http.MethodGet, gwURL+"/api/v1/agents?name=echo", testAdminKey, nil, "")
	require.Equal(t, http.StatusOK, status, "%s", data)
	require.Contains(t, string(data), reg.Agent.ID)
	status, _, _ = request(t, http.MethodGet, gwURL+"/api/v1/agents", "", nil, "")
	require.Equal(t, http.StatusUnauthorized, status)

	// The identity reaches discovery: an agent key for another agent is
	// refused there, by the ownership check.
	other := createKey(t, gwURL, "agent", "summarizer")
	status, _, data = request(t, http.MethodPost, gwURL+"/api/v1/agents/"+reg.Agent.ID+"/heartbeat", other, nil, "")
	require.Equal(t, http.StatusForbidden, status, "%s", data)
	require.Contains(t, string(data), "may not act for agent")

	// Straight to discovery: nothing without the gateway's signature works.
	forger, err := auth.NewForwarder("not-the-internal-secret-0123456789abcdef")
	require.NoError(t, err)
	forged := http.Header{}
	require.NoError(t, forger.Sign(forged, auth.Principal{Subject: "key:me", Role: auth.RoleAdmin}, http.MethodGet, "/api/v1/agents", ""))
	for name, h := range map[string]http.Header{
		"api key":      {"Authorization": {"Bearer " + testAdminKey}},
		"forged":       forged,
		"bare":         {},
		"copied shape": {auth.IdentityHeader: {"eyJzdWJqZWN0Ijoia2V5Om1lIiwicm9sZSI6ImFkbWluIn0"}, auth.SignatureHeader: {"t=1,v1=AAAA"}},
	} {
		req, _ := http.NewRequest(http.MethodGet, discURL+"/api/v1/agents", nil)
		for k, v := range h {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
	}
	status, _, _ = request(t, http.MethodGet, discURL+"/livez", "", nil, "")
	require.Equal(t, http.StatusOK, status, "operational endpoints stay open")

	// The gateway documents discovery's routes.
	status, _, data = request(t, http.MethodGet, gwURL+"/openapi.json", "", nil, "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(data), "/api/v1/discover")
}

func TestSplitModeServiceDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	down := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	cfg := splitConfig(t, "gateway")
	cfg.Discovery.URL = down
	gwURL := run(t, newApp(t, cfg))
	status, hdr, data := request(t, http.MethodGet, gwURL+"/api/v1/agents", testAdminKey, nil, "")
	require.Equal(t, http.StatusServiceUnavailable, status)
	require.Equal(t, "application/problem+json", hdr.Get("Content-Type"))
	require.Contains(t, string(data), "service discovery is unavailable")
}

func TestServiceWithoutGatewayNeedsSecret(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, "--target=discovery")
	_, err := New(t.Context(), cfg, discardLogger())
	require.ErrorContains(t, err, "--auth.internal-secret")
	cfg = testConfig(t, "--target=gateway")
	_, err = New(t.Context(), cfg, discardLogger())
	require.ErrorContains(t, err, "--auth.internal-secret")
}

// TestRateLimitSharedThroughRedis runs two gateway replicas on one store
// and one Redis, in front of one discovery: a caller's budget is one,
// whichever replica it calls.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	pg := testenv.PostgresURL(t)
	redisURL := testenv.RedisURL(t)
	discCfg := splitConfig(t, "discovery")
	discCfg.Database.URL = pg
	discURL := run(t, newApp(t, discCfg))
	var urls []string
	for range 2 {
		cfg := splitConfig(t, "gateway")
		cfg.Database.URL, cfg.Discovery.URL = pg, discURL
		cfg.Redis.URL = redisURL
		cfg.Gateway.RateLimit.Requests, cfg.Gateway.RateLimit.Period, cfg.Gateway.RateLimit.Burst = 1, time.Hour, 3
		urls = append(urls, run(t, newApp(t, cfg)))
	}
	var statuses []int
	for i := range 6 {
		status, hdr, _ := request(t, http.MethodGet, urls[i%2]+"/api/v1/agents", testAdminKey, nil, "")
		statuses = append(statuses, status)
		if status == http.StatusTooManyRequests {
			require.NotEmpty(t, hdr.Get("Retry-After"))
		}
	}
	require.Equal(t, []int{200, 200, 200, 429, 429, 429}, statuses, "three requests, shared by both replicas")
}

func TestTLS(t *testing.T) {
	certFile, keyFile := writeSelfSigned(t, t.TempDir())
	pool := x509.NewCertPool()
	pemData, err := os.ReadFile(certFile)
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(pemData))
	eachTopology(t, func(t *testing.T, topology string) {
		cfg := testConfig(t)
		var discURL string
		if topology == "split" {
			discURL = run(t, newApp(t, splitConfig(t, "discovery")))
			cfg = splitConfig(t, "gateway")
			cfg.Discovery.URL = discURL
		}
		cfg.HTTP.TLSCert, cfg.HTTP.TLSKey = certFile, keyFile
		a := newApp(t, cfg)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		base := "https://" + ln.Addr().String()
		done := make(chan error, 1)
		ctx, cancel := contextWithCancel()
		go func() { done <- a.Run(ctx, ln) }()
		t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
		defer hc.CloseIdleConnections()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := hc.Get(base + "/livez")
			if err == nil {
				resp.Body.Close()
				require.Equal(t, http.StatusOK, resp.StatusCode)
				require.NotNil(t, resp.TLS)
				break
			}
			require.True(t, time.Now().Before(deadline), "no TLS answer: %v", err)
			time.Sleep(10 * time.Millisecond)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/agents", nil)
		req.Header.Set("Authorization", "Bearer "+testAdminKey)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func writeSelfSigned(t *testing.T, dir string) (string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}
