package pkg

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"
	"time"

	"esmon/agentsvc/link"
	"esmon/core/apiv1"
	"esmon/core/tlscert"
	"esmon/core/wire"
	"esmon/internal/testenv"
)

// core is a real `esmon serve` (the headless build) on loopback, which the
// installed agents enrol with and connect to, as they would in production.
type core struct {
	url        string // https://127.0.0.1:port
	adminToken string
	client     *http.Client // checks the core by its certificate's pin
}

var dashboardRE = regexp.MustCompile(`Web dashboard: (https://[0-9.:]+)/`)

// startCore builds the headless core, runs `esmon serve` on a free loopback
// port with a fresh data directory, and waits until it answers /healthz.
// It is stopped when the test ends, and its output shown if the test failed.
func startCore(t *testing.T) *core {
	t.Helper()
	bin := goBuild(t, t.TempDir(), "esmon", "./app", runtime.GOOS, runtime.GOARCH, "0.0.1", "headless")
	data := t.TempDir()
	out := &testenv.Buffer{}
	cmd := exec.Command(bin, "serve", "--data", data, "--listen", "127.0.0.1:0")
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start esmon serve: %v", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("--- output of esmon serve ---\n%s", out.String())
		}
	})

	c := &core{}
	for deadline := time.Now().Add(time.Minute); c.url == ""; {
		if m := dashboardRE.FindStringSubmatch(out.String()); m != nil {
			c.url = m[1]
			break
		}
		select {
		case <-exited:
			t.Fatalf("esmon serve exited:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("esmon serve printed no address:\n%s", out.String())
		}
	}
	tok, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		t.Fatalf("the core's admin token: %v", err)
	}
	c.adminToken = string(bytes.TrimSpace(tok))
	// The pin, from the certificate the core made, as an operator would
	// read it.
	pemBytes, err := os.ReadFile(filepath.Join(data, tlscert.CertFile))
	if err != nil {
		t.Fatalf("the core's certificate: %v", err)
	}
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		t.Fatalf("%s holds no PEM certificate", tlscert.CertFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg, err := link.TLSConfig(wire.SPKIPin(cert), "")
	if err != nil {
		t.Fatal(err)
	}
	c.client = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
	t.Cleanup(c.client.CloseIdleConnections)
	waitFor(t, 30*time.Second, "the core's /healthz", func() bool {
		resp, err := c.client.Get(c.url + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return c
}

// do sends an API request with the admin token and decodes the JSON answer
// into out; any answer but want ends the test.
func (c *core) do(t *testing.T, method, path string, body, out any, want int) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, resp.StatusCode, want, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, b)
		}
	}
}

// joinCode asks the core for a join code, as an operator does on the
// Agents page.
func (c *core) joinCode(t *testing.T, uses int) apiv1.CreatedJoinCode {
	t.Helper()
	var jc apiv1.CreatedJoinCode
	c.do(t, "POST", "/api/v1/join-codes", apiv1.NewJoinCode{Uses: uses, TTLSeconds: 3600, Note: t.Name()}, &jc, http.StatusCreated)
	return jc
}

// agents lists the enrolled agents, as the Agents page shows them.
func (c *core) agents(t *testing.T) []apiv1.Agent {
	t.Helper()
	var as []apiv1.Agent
	c.do(t, "GET", "/api/v1/agents", nil, &as, http.StatusOK)
	return as
}

// waitFor polls cond until it holds, or ends the test after limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// describe formats agents for a failure message.
func describe(as []apiv1.Agent) string {
	var b bytes.Buffer
	for _, a := range as {
		fmt.Fprintf(&b, "  %s %s os=%s version=%s connected=%v revoked=%v\n", a.ID, a.Hostname, a.OS, a.Version, a.Connected, a.Revoked)
	}
	return b.String()
}
