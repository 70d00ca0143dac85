// Package enrol keeps who may send data to the core: join codes, which an
// operator hands to new agents, and the per-agent credentials agents get in
// exchange for them, which can be revoked one agent at a time.
//
// Neither a join secret nor a credential is stored: only their SHA-256.
// Both are 32 random bytes, so a fast hash is as safe as a slow one and lets
// thousands of agents reconnect at once. Records live in the store's KV
// under the meta prefix: "m" "agent:" id and "m" "join:" id, as JSON.
package enrol

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"esmon/core/apiv1"
	"esmon/core/store"
	"esmon/core/wire"
)

// Errors of Authenticate. Each is a reason the agent endpoint counts and
// names in its close frame.
var (
	ErrNoCredential  = errors.New("no agent credential")
	ErrBadCredential = errors.New("invalid agent token")
	ErrRevoked       = errors.New("agent revoked")
	ErrOtherAgent    = errors.New("credential belongs to another agent")
	// ErrInvalid wraps what is wrong with a request for a join code.
	ErrInvalid = errors.New("invalid join code request")
)

// Limits of join codes.
const (
	DefaultUses = 1
	MaxUses     = 10_000
	DefaultTTL  = 24 * time.Hour
	MaxTTL      = 366 * 24 * time.Hour
	maxNote     = 200
)

// CredentialPrefix starts every agent credential, so a leaked one is easy to
// recognise in a file or a scanner's report.
const CredentialPrefix = "esma_"

// Key prefixes inside store.PrefixMeta.
const (
	agentKey = "agent:"
	joinKey  = "join:"
	// revokedKey marks a revoked agent in a record of its own, written
	// once and never changed, so that a contact record written outside
	// the lock (see Authenticate) can never undo a revocation on disk.
	revokedKey = "revoked:"
)

// Refusal is a refused enrolment; Code is one of wire's EnrolRefused*.
type Refusal struct {
	Code string
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

// agentRec is an agent as stored.
type agentRec struct {
	apiv1.Agent
	CredHash []byte `json:"cred_hash"`
	// saved is the LastContact last written to the KV; see contactSaveEvery.
	saved time.Time
}

// contactSaveEvery is how stale the stored last contact may get. A hello
// that changes nothing else updates it in memory only, so that thousands of
// agents reconnecting after a restart do not wait on a disk write each;
// FlushContacts writes it later, off the hello's path.
const contactSaveEvery = 10 * time.Minute

// codeRec is a join code as stored.
type codeRec struct {
	apiv1.JoinCode
	SecretHash []byte `json:"secret_hash"`
}

// Registry holds the agents and join codes, in memory and in the KV.
type Registry struct {
	// Version is the core's version, which names the agent MSI in the
	// install commands; set it before use.
	Version string

	kv  store.KV
	log *slog.Logger
	now func() time.Time

	enrolled *prometheus.CounterVec // result: ok or a refusal code

	mu     sync.Mutex // guards the maps below and the records in them
	agents map[string]*agentRec
	byCred map[[sha256.Size]byte]string // credential hash → agent id, revoked ones excluded
	codes  map[string]*codeRec
}

// Open loads the registry from kv and registers its counter with reg (if
// not nil).
func Open(kv store.KV, reg prometheus.Registerer, log *slog.Logger) (*Registry, error) {
	r := &Registry{kv: kv, log: log, now: time.Now,
		agents: map[string]*agentRec{}, byCred: map[[sha256.Size]byte]string{}, codes: map[string]*codeRec{},
		enrolled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "esmon_enrolments_total",
			Help: "Agent enrolments by result: ok, or the reason they were refused."}, []string{"result"}),
	}
	for _, res := range []string{"ok", wire.EnrolRefusedUnknown, wire.EnrolRefusedExpired, wire.EnrolRefusedUsedUp,
		wire.EnrolRefusedRevoked, wire.EnrolRefusedInvalid} {
		r.enrolled.WithLabelValues(res)
	}
	if reg != nil {
		reg.MustRegister(r.enrolled)
	}
	var errs []error
	err := kv.Scan(metaKey(agentKey, ""), func(k, v []byte) bool {
		var a agentRec
		if err := json.Unmarshal(v, &a); err != nil {
			errs = append(errs, fmt.Errorf("agent %q: %w", k, err))
			return true
		}
		a.saved = a.LastContact
		r.agents[a.ID] = &a
		if !a.Revoked && len(a.CredHash) == sha256.Size {
			r.byCred[[sha256.Size]byte(a.CredHash)] = a.ID
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load agents: %w", err)
	}
	err = kv.Scan(metaKey(revokedKey, ""), func(k, v []byte) bool {
		id := string(k[len(metaKey(revokedKey, "")):])
		a, ok := r.agents[id]
		if !ok {
			return true
		}
		var at time.Time
		if json.Unmarshal(v, &at) == nil && a.RevokedAt.IsZero() {
			a.RevokedAt = at
		}
		a.Revoked = true
		if len(a.CredHash) == sha256.Size {
			delete(r.byCred, [sha256.Size]byte(a.CredHash))
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load revocations: %w", err)
	}
	err = kv.Scan(metaKey(joinKey, ""), func(k, v []byte) bool {
		var c codeRec
		if err := json.Unmarshal(v, &c); err != nil {
			errs = append(errs, fmt.Errorf("join code %q: %w", k, err))
			return true
		}
		r.codes[c.ID] = &c
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load join codes: %w", err)
	}
	if len(errs) > 0 {
		// A damaged record costs one agent or code, not the core's start.
		log.Error("skipped damaged enrolment records", "err", errors.Join(errs...))
	}
	return r, nil
}

func metaKey(kind, id string) []byte {
	return append([]byte{store.PrefixMeta}, kind+id...)
}

func (r *Registry) put(kind, id string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := r.kv.Put(metaKey(kind, id), b); err != nil {
		return fmt.Errorf("save %s%s: %w", kind, id, err)
	}
	return nil
}

// random returns n random bytes as unpadded base64url.
func random(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// CreateJoinCode makes a join code for the core at coreURL whose
// certificate has pin. The returned code is the only copy of its secret.
func (r *Registry) CreateJoinCode(req apiv1.NewJoinCode, coreURL, pin string) (apiv1.CreatedJoinCode, error) {
	if req.Uses == 0 {
		req.Uses = DefaultUses
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	if req.TTLSeconds == 0 {
		ttl = DefaultTTL
	}
	switch {
	case req.Uses < 1 || req.Uses > MaxUses:
		return apiv1.CreatedJoinCode{}, fmt.Errorf("%w: uses must be between 1 and %d", ErrInvalid, MaxUses)
	case req.TTLSeconds < 0 || ttl > MaxTTL:
		return apiv1.CreatedJoinCode{}, fmt.Errorf("%w: ttl_seconds must be between 1 and %d", ErrInvalid, int64(MaxTTL.Seconds()))
	case len(req.Note) > maxNote:
		return apiv1.CreatedJoinCode{}, fmt.Errorf("%w: note is longer than %d bytes", ErrInvalid, maxNote)
	}
	now := r.now().UTC().Truncate(time.Second)
	var idb [8]byte
	rand.Read(idb[:])
	c := &codeRec{JoinCode: apiv1.JoinCode{ID: hex.EncodeToString(idb[:]), Note: strings.TrimSpace(req.Note),
		CreatedAt: now, ExpiresAt: now.Add(ttl), Uses: req.Uses, UsesLeft: req.Uses}}
	secret := c.ID + "." + random(32)
	sum := sha256.Sum256([]byte(secret))
	c.SecretHash = sum[:]
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.put(joinKey, c.ID, c); err != nil {
		return apiv1.CreatedJoinCode{}, err
	}
	r.codes[c.ID] = c
	code := wire.JoinCode{URL: coreURL, Pin: pin, Secret: secret, Expires: c.ExpiresAt.Unix()}.String()
	r.log.Info("join code created", "id", c.ID, "uses", c.Uses, "expires", c.ExpiresAt, "note", c.Note)
	return apiv1.CreatedJoinCode{ID: c.ID, Code: code, ExpiresAt: c.ExpiresAt, UsesLeft: c.UsesLeft, Install: Install(code, MSIName(r.Version))}, nil
}

// releaseVersion is a version `make dist VERSION=x.y.z` stamps.
var releaseVersion = regexp.MustCompile(`^v?(\d+\.\d+\.\d+)$`)

// MSIName is the file name of the agent MSI released with core version v
// (packaging/build-msi.sh names it so); a development build, which has no
// release of its own, names it plainly.
func MSIName(v string) string {
	if m := releaseVersion.FindStringSubmatch(v); m != nil {
		return "esmon-agent_" + m[1] + "_x64.msi"
	}
	return "esmon-agent.msi"
}

// Install returns the commands that install an agent with code from the
// MSI file msi.
func Install(code, msi string) apiv1.Install {
	return apiv1.Install{
		WindowsMSI: "msiexec /i " + msi + " /qn JOIN_CODE=" + code,
		WindowsPowerShell: "Start-Process msiexec.exe -Wait -ArgumentList '/i " + msi + " /qn JOIN_CODE=" + code + "'\n" +
			"# or, with esmon-agent.exe alone:\n" +
			"& .\\esmon-agent.exe install --join-code '" + code + "'; & .\\esmon-agent.exe start",
		Linux: "sudo esmon-agent install --join-code '" + code + "' && sudo esmon-agent start",
	}
}

// state is a code's state at now.
func (c *codeRec) state(now time.Time) string {
	switch {
	case c.Revoked:
		return apiv1.JoinRevoked
	case c.UsesLeft <= 0:
		return apiv1.JoinUsedUp
	case !now.Before(c.ExpiresAt):
		return apiv1.JoinExpired
	}
	return apiv1.JoinActive
}

// JoinCodes lists the join codes, newest first, without their secrets.
func (r *Registry) JoinCodes() []apiv1.JoinCode {
	now := r.now()
	r.mu.Lock()
	out := make([]apiv1.JoinCode, 0, len(r.codes))
	for _, c := range r.codes {
		j := c.JoinCode
		j.State = c.state(now)
		out = append(out, j)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b apiv1.JoinCode) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out
}

// RevokeJoinCode stops a join code from enrolling more agents. Agents it
// enrolled keep their credentials. It reports false for an unknown id.
func (r *Registry) RevokeJoinCode(id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.codes[id]
	if !ok {
		return false, nil
	}
	if c.Revoked {
		return true, nil
	}
	next := *c
	next.Revoked = true
	if err := r.put(joinKey, id, &next); err != nil {
		return true, err
	}
	*c = next
	r.log.Info("join code revoked", "id", id)
	return true, nil
}

// Enrol exchanges a join secret for a new agent's id and credential. The
// use is recorded durably before the credential is returned. A refusal is
// a *Refusal and is counted by its code.
func (r *Registry) Enrol(req wire.EnrolRequest, remote string) (wire.EnrolResponse, error) {
	resp, err := r.enrol(req, remote)
	var ref *Refusal
	switch {
	case errors.As(err, &ref):
		r.enrolled.WithLabelValues(ref.Code).Inc()
		r.log.Warn("enrolment refused", "remote", remote, "reason", ref.Code, "host", req.Host.Hostname)
	case err == nil:
		r.enrolled.WithLabelValues("ok").Inc()
	}
	return resp, err
}

func (r *Registry) enrol(req wire.EnrolRequest, remote string) (wire.EnrolResponse, error) {
	id, _, ok := strings.Cut(req.Secret, ".")
	if !ok || len(req.Secret) > wire.MaxNameLen {
		return wire.EnrolResponse{}, &Refusal{wire.EnrolRefusedUnknown, "unknown join code"}
	}
	if len(req.Host.Hostname) > wire.MaxNameLen || len(req.AgentVersion) > wire.MaxNameLen || len(req.Host.OS) > wire.MaxNameLen {
		return wire.EnrolResponse{}, &Refusal{wire.EnrolRefusedInvalid, "host name, OS or version too long"}
	}
	sum := sha256.Sum256([]byte(req.Secret))
	now := r.now().UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.codes[id]
	if !ok || subtle.ConstantTimeCompare(sum[:], c.SecretHash) != 1 {
		return wire.EnrolResponse{}, &Refusal{wire.EnrolRefusedUnknown, "unknown join code"}
	}
	switch c.state(now) {
	case apiv1.JoinRevoked:
		return wire.EnrolResponse{}, &Refusal{wire.EnrolRefusedRevoked, "this join code was revoked: ask for a new one"}
	case apiv1.JoinUsedUp:
		return wire.EnrolResponse{}, &Refusal{wire.EnrolRefusedUsedUp, "this join code has been used up: ask for a new one"}
	case apiv1.JoinExpired:
		return wire.EnrolResponse{}, &Refusal{wire.EnrolRefusedExpired, "this join code expired at " + c.ExpiresAt.Format(time.RFC3339) + ": ask for a new one"}
	}
	var idb [16]byte
	rand.Read(idb[:])
	cred := CredentialPrefix + random(32)
	credSum := sha256.Sum256([]byte(cred))
	a := &agentRec{Agent: apiv1.Agent{ID: hex.EncodeToString(idb[:]), Hostname: req.Host.Hostname, OS: req.Host.OS,
		Version: req.AgentVersion, EnrolledAt: now, RemoteAddr: remote, JoinCodeID: c.ID}, CredHash: credSum[:]}
	next := *c
	next.UsesLeft--
	if err := r.put(joinKey, c.ID, &next); err != nil {
		return wire.EnrolResponse{}, err
	}
	*c = next
	if err := r.put(agentKey, a.ID, a); err != nil {
		return wire.EnrolResponse{}, err
	}
	r.agents[a.ID] = a
	r.byCred[credSum] = a.ID
	r.log.Info("agent enrolled", "agent_id", a.ID, "host", a.Hostname, "join_code", c.ID, "remote", remote, "uses_left", c.UsesLeft)
	return wire.EnrolResponse{AgentID: a.ID, Credential: cred}, nil
}

// Authenticate checks an agent's id and credential, and on success records
// the contact (host name, version, address), durably.
func (r *Registry) Authenticate(h *wire.Hello, remote string) error {
	if h.Token == "" {
		return ErrNoCredential
	}
	sum := sha256.Sum256([]byte(h.Token))
	r.mu.Lock()
	locked := true
	defer func() {
		if locked {
			r.mu.Unlock()
		}
	}()
	a, ok := r.agents[h.AgentID]
	if ok && a.Revoked && subtle.ConstantTimeCompare(sum[:], a.CredHash) == 1 {
		return ErrRevoked
	}
	if !ok || a.Revoked || subtle.ConstantTimeCompare(sum[:], a.CredHash) != 1 {
		if owner, found := r.byCred[sum]; found && owner != h.AgentID {
			return ErrOtherAgent
		}
		return ErrBadCredential
	}
	next := *a
	next.Hostname, next.OS, next.Version = h.Host.Hostname, h.Host.OS, h.AgentVersion
	next.LastContact, next.RemoteAddr = r.now().UTC(), remote
	if next.Hostname == a.Hostname && next.OS == a.OS && next.Version == a.Version {
		// Only the contact changed: FlushContacts writes it.
		a.LastContact, a.RemoteAddr = next.LastContact, next.RemoteAddr
		return nil
	}
	next.saved = next.LastContact
	*a = next
	// The write happens outside the lock: thousands of agents coming back
	// after a restart then share the store's group commits instead of
	// queueing for one fsync each. A revocation racing with it is safe:
	// it lives in its own record (revokedKey).
	r.mu.Unlock()
	locked = false
	if err := r.put(agentKey, next.ID, &next); err != nil {
		// The agent is who it says; a failed write only loses the contact time.
		r.log.Warn("record agent contact", "agent_id", next.ID, "err", err)
	}
	return nil
}

// FlushContacts writes the last contact of the agents whose stored one is
// more than contactSaveEvery old, or of every agent whose stored one is
// behind with all (at shutdown). Hellos only note the contact in memory
// (see Authenticate); the core calls this periodically, off their path.
// The writes run outside the lock, several at once so that they share the
// store's group commits. It returns how many records it wrote.
func (r *Registry) FlushContacts(all bool) int {
	r.mu.Lock()
	var recs []agentRec
	for _, a := range r.agents {
		if a.Revoked || !a.LastContact.After(a.saved) {
			continue
		}
		if all || a.LastContact.Sub(a.saved) >= contactSaveEvery {
			a.saved = a.LastContact
			recs = append(recs, *a)
		}
	}
	r.mu.Unlock()
	const writers = 16
	next := make(chan *agentRec)
	var wg sync.WaitGroup
	for range min(writers, len(recs)) {
		wg.Go(func() {
			for a := range next {
				if err := r.put(agentKey, a.ID, a); err != nil {
					r.log.Warn("record agent contact", "agent_id", a.ID, "err", err)
				}
			}
		})
	}
	for i := range recs {
		next <- &recs[i]
	}
	close(next)
	wg.Wait()
	return len(recs)
}

// Revoked reports whether the agent id was revoked.
func (r *Registry) Revoked(id string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.agents[id]
	return ok && a.Revoked
}

// Agents lists the enrolled agents (revoked ones too), by host name.
func (r *Registry) Agents() []apiv1.Agent {
	r.mu.Lock()
	out := make([]apiv1.Agent, 0, len(r.agents))
	for _, a := range r.agents {
		out = append(out, a.Agent)
	}
	r.mu.Unlock()
	slices.SortFunc(out, func(a, b apiv1.Agent) int {
		if c := strings.Compare(a.Hostname, b.Hostname); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Revoke revokes an agent's credential for good. It reports false for an
// unknown id. The caller closes the agent's live connection.
func (r *Registry) Revoke(id string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.agents[id]
	if !ok {
		return false, nil
	}
	if a.Revoked {
		return true, nil
	}
	next := *a
	next.Revoked, next.RevokedAt = true, r.now().UTC()
	if err := r.put(revokedKey, id, next.RevokedAt); err != nil {
		return true, err
	}
	if err := r.put(agentKey, id, &next); err != nil {
		// The revocation stands (revokedKey); the agent record only
		// shows it too.
		r.log.Warn("record revocation in the agent record", "agent_id", id, "err", err)
	}
	*a = next
	for h, owner := range r.byCred {
		if owner == id {
			delete(r.byCred, h)
		}
	}
	r.log.Info("agent revoked", "agent_id", id, "host", a.Hostname)
	return true, nil
}
