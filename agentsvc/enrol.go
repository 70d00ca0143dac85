package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"esmon/agentsvc/link"
	"esmon/core/wire"
)

// enrolmentFile keeps, in the state directory and readable by the service
// account alone, what enrolment gave the agent: its id and credential, and
// the core's address and pin. It is reused on every start; the join code is
// not needed again.
const enrolmentFile = "enrolment.json"

// enrolTimeout bounds the exchange with the core at first start. A core that
// cannot be reached fails the start; the service manager starts the agent
// again.
const enrolTimeout = 30 * time.Second

// enrolment is the content of enrolmentFile.
type enrolment struct {
	Core       string `json:"core"`
	Pin        string `json:"pin,omitempty"`
	AgentID    string `json:"agent_id"`
	Credential string `json:"credential"`
	// JoinCodeID names the join code used, so that a revoked agent is not
	// enrolled again with the same code.
	JoinCodeID string `json:"join_code_id"`
	// Revoked is set when the core said the agent was revoked.
	Revoked bool `json:"revoked,omitempty"`
}

// identity is who the agent is to the core and how it checks the core.
type identity struct {
	AgentID, Token string
	Core           string
	TLS            *tls.Config
	// Enrolled says the credential came from enrolmentFile, which is
	// marked when the core revokes the agent.
	Enrolled bool
}

func hasEnrolment(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, enrolmentFile))
	return err == nil
}

func loadEnrolment(dir string) (*enrolment, error) {
	b, err := os.ReadFile(filepath.Join(dir, enrolmentFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read enrolment: %w", err)
	}
	var e enrolment
	if err := json.Unmarshal(b, &e); err != nil || e.AgentID == "" || e.Credential == "" || e.Core == "" {
		return nil, fmt.Errorf("enrolment file %s is damaged: delete it and enrol again with a new join code", filepath.Join(dir, enrolmentFile))
	}
	return &e, nil
}

func saveEnrolment(dir string, e *enrolment) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("make state directory: %w", err)
	}
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(filepath.Join(dir, enrolmentFile), append(b, '\n'))
}

// resolveIdentity works out the agent's id, credential, core and TLS
// check: from a token given by hand, else from the kept enrolment, else by
// enrolling with the join code.
func resolveIdentity(cfg Config, facts wire.HostFacts, log *slog.Logger) (*identity, error) {
	dir := cfg.stateDir()
	if cfg.Token != "" {
		id := cfg.AgentID
		if id == "" {
			var err error
			if id, err = agentID(dir); err != nil {
				return nil, err
			}
		}
		return newIdentity(id, cfg.Token, cfg.Core, cfg.Fingerprint, cfg.CAFile, false)
	}
	e, err := loadEnrolment(dir)
	if err != nil {
		return nil, err
	}
	if e != nil && !e.Revoked {
		return newIdentity(e.AgentID, e.Credential, firstOf(cfg.Core, e.Core), firstOf(cfg.Fingerprint, e.Pin), cfg.CAFile, true)
	}
	if cfg.JoinCode == "" {
		if e != nil {
			return nil, errors.New("the core revoked this agent: enrol it again with a new join code (--join-code)")
		}
		return nil, errors.New("not enrolled: give a join code (--join-code, ESMON_JOIN_CODE or join_code: in the config file)")
	}
	code, err := wire.ParseJoinCode(cfg.JoinCode)
	if err != nil {
		return nil, err
	}
	codeID, _, _ := strings.Cut(code.Secret, ".")
	if e != nil && e.JoinCodeID == codeID {
		return nil, errors.New("the core revoked this agent, and its join code is the one it enrolled with: give a new join code")
	}
	core := firstOf(cfg.Core, code.URL)
	pin := firstOf(cfg.Fingerprint, code.Pin)
	ctx, cancel := context.WithTimeout(context.Background(), enrolTimeout)
	defer cancel()
	resp, err := enrol(ctx, core, pin, cfg.CAFile, wire.EnrolRequest{Secret: code.Secret, AgentVersion: Version, Host: facts})
	if err != nil {
		return nil, err
	}
	e = &enrolment{Core: core, Pin: pin, AgentID: resp.AgentID, Credential: resp.Credential, JoinCodeID: codeID}
	if err := saveEnrolment(dir, e); err != nil {
		return nil, err
	}
	log.Info("enrolled with the core", "agent_id", e.AgentID, "core", core, "saved", filepath.Join(dir, enrolmentFile))
	return newIdentity(e.AgentID, e.Credential, core, pin, cfg.CAFile, true)
}

func newIdentity(id, token, core, pin, caFile string, enrolled bool) (*identity, error) {
	if core == "" {
		return nil, errors.New("no core URL: set --core, ESMON_CORE or core: in the config file")
	}
	tc, err := link.TLSConfig(pin, caFile)
	if err != nil {
		return nil, err
	}
	return &identity{AgentID: id, Token: token, Core: core, TLS: tc, Enrolled: enrolled}, nil
}

// markRevoked records in the enrolment file that the core revoked the
// agent, so that it does not try again with the same credential.
func markRevoked(dir string) error {
	e, err := loadEnrolment(dir)
	if err != nil || e == nil {
		return err
	}
	e.Revoked = true
	return saveEnrolment(dir, e)
}

// enrol posts the join secret to the core at coreURL, over TLS checked by
// pin (or caFile, or the system's CAs), and returns the agent's id and
// credential. The TLS handshake, and so the pin check, comes before the
// secret is sent.
func enrol(ctx context.Context, coreURL, pin, caFile string, req wire.EnrolRequest) (wire.EnrolResponse, error) {
	var out wire.EnrolResponse
	// The enrolment endpoint sits beside the agent endpoint, under the
	// same prefix when the core is behind a proxy path.
	ws, err := link.CoreURL(coreURL)
	if err != nil {
		return out, err
	}
	u, err := url.Parse(ws)
	if err != nil {
		return out, fmt.Errorf("parse core URL: %w", err)
	}
	u.Scheme = map[string]string{"ws": "http", "wss": "https"}[u.Scheme]
	u.Path = strings.TrimSuffix(u.Path, wire.Path) + wire.EnrolPath
	u.RawQuery = ""
	tc, err := link.TLSConfig(pin, caFile)
	if err != nil {
		return out, err
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment,
		ForceAttemptHTTP2: false}, Timeout: enrolTimeout}
	defer client.CloseIdleConnections()
	body, err := json.Marshal(req)
	if err != nil {
		return out, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(body))
	if err != nil {
		return out, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(hreq)
	if err != nil {
		return out, fmt.Errorf("enrol at %s: %w", u.Host, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return out, fmt.Errorf("enrol at %s: %w", u.Host, err)
	}
	if resp.StatusCode != http.StatusOK {
		var ee wire.EnrolError
		if json.Unmarshal(b, &ee) == nil && ee.Error != "" {
			return out, fmt.Errorf("core refused the join code: %s (%s)", ee.Error, ee.Code)
		}
		return out, fmt.Errorf("enrol at %s: HTTP %s", u.Host, resp.Status)
	}
	if err := json.Unmarshal(b, &out); err != nil || out.AgentID == "" || out.Credential == "" {
		return out, fmt.Errorf("enrol at %s: the core's answer has no credential", u.Host)
	}
	return out, nil
}

func firstOf(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
