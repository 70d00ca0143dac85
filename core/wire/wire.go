// Package wire is the protocol between esmon-agent and the core. Both sides
// import it and nothing else of the core, so the agent stays small and the
// protocol has exactly one definition.
//
// A frame is one binary WebSocket message: one byte naming the message type,
// then the message as CBOR with integer keys. The first message on a connection
// is the agent's Hello, which carries the protocol version; the core answers with
// Welcome or closes the connection with a reason. After that the agent sends
// Batches and the core answers each with an Ack once the batch is stored; the
// core may also send a Config, settings the agent runs over its own.
//
// A Batch names each series once per connection (SeriesDef, with a small
// number chosen by the agent) and then refers to it by that number, so the
// steady-state frame carries numbers, not strings.
package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"

	"github.com/fxamacker/cbor/v2"
)

// Version is the protocol version this build speaks. The core refuses a Hello
// with another version, with a close reason that names both.
const Version = 1

// Path is where the core accepts agent connections.
const Path = "/ws/agent"

// Limits that both sides enforce. The core sets MaxFrameBytes as the read limit
// of every agent connection; a larger frame closes the connection.
const (
	MaxFrameBytes      = 4 << 20
	MaxSeriesPerBatch  = 100_000
	MaxSnapshots       = 10_000
	MaxLabels          = 16
	MaxNameLen         = 128
	MaxLabelValueLen   = 1024
	MaxSeriesPerConn   = 1 << 20
	maxNestedLevels    = 8
	maxArrayElements   = 1 << 20
	maxMapPairs        = 1 << 10
	maxCBORStringBytes = 1 << 16
	maxConfigItems     = 1000
)

// Type names a message; it is the first byte of every frame.
type Type uint8

// The message types. Numbers are part of the protocol: never reuse one.
const (
	TypeHello   Type = 1
	TypeWelcome Type = 2
	TypeBatch   Type = 3
	TypeAck     Type = 4
	TypeConfig  Type = 5
)

func (t Type) String() string {
	switch t {
	case TypeHello:
		return "hello"
	case TypeWelcome:
		return "welcome"
	case TypeBatch:
		return "batch"
	case TypeAck:
		return "ack"
	case TypeConfig:
		return "config"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Hello is the agent's first message on a connection.
type Hello struct {
	Version int `cbor:"1,keyasint"`
	// AgentID and Token are the id and credential the agent got at
	// enrolment (see JoinCode); the core keeps only the credential's hash
	// and refuses a credential presented under another agent's id.
	AgentID      string    `cbor:"2,keyasint"`
	Token        string    `cbor:"3,keyasint"`
	AgentVersion string    `cbor:"4,keyasint,omitempty"`
	Host         HostFacts `cbor:"5,keyasint"`
	IntervalMS   int64     `cbor:"6,keyasint,omitempty"`
	// ConfigVersion is the Version of the Config the core pushed that the
	// agent runs; 0 when it runs its local settings alone.
	ConfigVersion uint64 `cbor:"7,keyasint,omitempty"`
	// Tags are the host's tags from the agent's settings (prod, maximo,
	// team-db), which alert rules match with "tag"; see ValidTag.
	Tags []string `cbor:"16,keyasint,omitempty"`
}

// MaxTags bounds the tags of one host.
const MaxTags = 32

// ValidTag reports whether s is a tag: 1 to 64 letters, digits, '-', '_'
// or '.', so that a tag reads the same in a rule, a URL and a log line.
func ValidTag(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// HostFacts describe the machine an agent runs on; they change rarely and are
// sent once per connection.
type HostFacts struct {
	Hostname        string `cbor:"1,keyasint" json:"hostname"`
	OS              string `cbor:"2,keyasint" json:"os"`
	Platform        string `cbor:"3,keyasint,omitempty" json:"platform"`
	PlatformVersion string `cbor:"4,keyasint,omitempty" json:"platform_version"`
	KernelVersion   string `cbor:"5,keyasint,omitempty" json:"kernel_version"`
	Arch            string `cbor:"6,keyasint,omitempty" json:"arch"`
	CPUModel        string `cbor:"7,keyasint,omitempty" json:"cpu_model"`
	Cores           int    `cbor:"8,keyasint,omitempty" json:"cores"`
	MemoryBytes     uint64 `cbor:"9,keyasint,omitempty" json:"memory_bytes"`
	BootTime        int64  `cbor:"10,keyasint,omitempty" json:"boot_time"` // Unix seconds
}

// Welcome is the core's answer to an accepted Hello.
type Welcome struct {
	Version     int    `cbor:"1,keyasint"`
	CoreVersion string `cbor:"2,keyasint,omitempty"`
	// HostID is the name the core files this agent's series under.
	HostID string `cbor:"3,keyasint"`
}

// Label is one name=value pair of a series besides its metric name. The host
// label is implied by the connection and never sent.
type Label struct {
	_     struct{} `cbor:",toarray"`
	Name  string
	Value string
}

// SeriesDef binds a connection-local number to a series.
type SeriesDef struct {
	ID     uint32  `cbor:"1,keyasint"`
	Metric string  `cbor:"2,keyasint"`
	Labels []Label `cbor:"3,keyasint,omitempty"`
}

// Snapshot is the values of many series at one instant. IDs[i] has Values[i].
type Snapshot struct {
	TimeMS int64     `cbor:"1,keyasint"`
	IDs    []uint32  `cbor:"2,keyasint"`
	Values []float64 `cbor:"3,keyasint"`
}

// Batch is the unit the agent sends and the core acknowledges. Every
// snapshot has a sequence number that grows by one over the agent's life,
// across connections and restarts (the agent's spool keeps it); a batch holds
// consecutive snapshots and Seq is the number of its last one, so the first
// is Seq-len(Snapshots)+1. A batch sent again after a reconnect may group
// snapshots differently, but each keeps its number.
type Batch struct {
	Seq       uint64      `cbor:"1,keyasint"`
	Defs      []SeriesDef `cbor:"2,keyasint,omitempty"`
	Snapshots []Snapshot  `cbor:"3,keyasint"`
}

// Ack tells the agent that the batch Seq is stored. The core handles a
// connection's batches in order, so an Ack covers every snapshot up to Seq
// sent on that connection. Rejected counts samples the core refused (NaN,
// infinite, unknown series id) with Reason saying why; the rest of the batch
// is stored all the same.
type Ack struct {
	Seq      uint64 `cbor:"1,keyasint"`
	Rejected int    `cbor:"2,keyasint,omitempty"`
	Reason   string `cbor:"3,keyasint,omitempty"`
}

// Config is settings the core pushes to an agent, over its local ones. The
// core sends it after Welcome when the agent's Hello names another
// ConfigVersion. A zero field keeps the agent's local setting; the agent
// keeps the pushed config across restarts, names its Version in every Hello
// and reports it as the metric AgentConfigVersion. Version is a number that
// the operator raises with every change. Added within protocol version 1:
// agents that predate it ignore the message.
type Config struct {
	Version           uint64   `cbor:"1,keyasint"`
	IntervalMS        int64    `cbor:"2,keyasint,omitempty"`
	ProcessIntervalMS int64    `cbor:"3,keyasint,omitempty"` // negative turns the process scan off
	Services          []string `cbor:"4,keyasint,omitempty"`
	Checks            []string `cbor:"5,keyasint,omitempty"`
	CheckIntervalMS   int64    `cbor:"6,keyasint,omitempty"`
}

// Errors of Decode. A caller can tell them apart with errors.Is.
var (
	ErrEmpty       = errors.New("empty frame")
	ErrUnknownType = errors.New("unknown message type")
	ErrMalformed   = errors.New("malformed message")
)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	encMode, err = cbor.EncOptions{
		// Floats that fit losslessly into fewer bytes take fewer bytes:
		// percentages like 12.5 and whole byte counts shrink to 3 or 5 bytes.
		ShortestFloat: cbor.ShortestFloat16,
		NaNConvert:    cbor.NaNConvertNone,
		InfConvert:    cbor.InfConvertNone,
	}.EncMode()
	if err != nil {
		panic(err)
	}
	decMode, err = cbor.DecOptions{
		MaxNestedLevels:   maxNestedLevels,
		MaxArrayElements:  maxArrayElements,
		MaxMapPairs:       maxMapPairs,
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		IndefLength:       cbor.IndefLengthForbidden,
		TagsMd:            cbor.TagsForbidden,
		ExtraReturnErrors: cbor.ExtraDecErrorNone,
	}.DecMode()
	if err != nil {
		panic(err)
	}
}

// Encode returns the frame for msg, which is a *Hello, *Welcome, *Batch, *Ack
// or *Config.
func Encode(msg any) ([]byte, error) {
	t, ok := typeOf(msg)
	if !ok {
		return nil, fmt.Errorf("encode: %T is not a wire message", msg)
	}
	body, err := encMode.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", t, err)
	}
	frame := make([]byte, 1+len(body))
	frame[0] = byte(t)
	copy(frame[1:], body)
	return frame, nil
}

// Decode parses one frame. It returns a *Hello, *Welcome, *Batch, *Ack or *Config, or an
// error wrapping ErrEmpty, ErrUnknownType or ErrMalformed. It checks the shape
// of the message (see Validate) but not its meaning on a connection.
func Decode(frame []byte) (any, error) {
	return decode(frame, nil)
}

// DecodeInto is Decode, except that a batch is decoded into b, whose
// slices it reuses where they are large enough (a connection's batches
// have much the same shape, so after the first one a batch allocates
// nothing); b's earlier content is overwritten. Other messages are
// allocated as Decode does. For a batch the result is b.
func DecodeInto(frame []byte, b *Batch) (any, error) {
	if b != nil {
		b.reset()
	}
	return decode(frame, b)
}

// reset empties b for decoding into it again, keeping the memory of its
// snapshots' slices. The decoder sets only the fields a message has, so
// every field a message may omit is cleared here, in every snapshot the
// decoder may reuse.
func (b *Batch) reset() {
	b.Seq = 0
	b.Defs = nil // sent once per series, not worth keeping
	all := b.Snapshots[:cap(b.Snapshots)]
	for i := range all {
		all[i] = Snapshot{IDs: all[i].IDs[:0], Values: all[i].Values[:0]}
	}
	b.Snapshots = b.Snapshots[:0]
}

func decode(frame []byte, into *Batch) (any, error) {
	if len(frame) == 0 {
		return nil, ErrEmpty
	}
	var msg any
	switch Type(frame[0]) {
	case TypeHello:
		msg = new(Hello)
	case TypeWelcome:
		msg = new(Welcome)
	case TypeBatch:
		if into != nil {
			msg = into
		} else {
			msg = new(Batch)
		}
	case TypeAck:
		msg = new(Ack)
	case TypeConfig:
		msg = new(Config)
	default:
		return nil, fmt.Errorf("%w %d", ErrUnknownType, frame[0])
	}
	if b, ok := msg.(*Batch); ok && decodeBatchFast(frame[1:], b) {
		if err := Validate(b); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, TypeBatch, err)
		}
		return b, nil
	} else if ok {
		b.reset() // the general decoder reads it afresh
	}
	if err := decMode.Unmarshal(frame[1:], msg); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, Type(frame[0]), err)
	}
	if err := Validate(msg); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrMalformed, Type(frame[0]), err)
	}
	return msg, nil
}

// Validate checks the bounds and shape of a message. It does not reject NaN or
// infinite sample values: those are counted and dropped one by one by the core,
// so one bad value does not cost the rest of a batch.
func Validate(msg any) error {
	switch m := msg.(type) {
	case *Hello:
		if m.AgentID == "" {
			return errors.New("agent id is empty")
		}
		if len(m.AgentID) > MaxNameLen || len(m.Token) > MaxLabelValueLen || len(m.Host.Hostname) > MaxLabelValueLen {
			return errors.New("hello field too long")
		}
		if len(m.Tags) > MaxTags {
			return fmt.Errorf("%d tags, limit %d", len(m.Tags), MaxTags)
		}
		for _, tg := range m.Tags {
			if !ValidTag(tg) {
				return fmt.Errorf("tag %.64q: want 1 to 64 letters, digits, -, _ or .", tg)
			}
		}
	case *Config:
		if m.Version == 0 {
			return errors.New("config version is 0")
		}
		if len(m.Services) > maxConfigItems || len(m.Checks) > maxConfigItems {
			return fmt.Errorf("more than %d services or checks", maxConfigItems)
		}
		for _, v := range append(m.Services[:len(m.Services):len(m.Services)], m.Checks...) {
			if len(v) > MaxLabelValueLen || !utf8.ValidString(v) {
				return errors.New("config item too long or not text")
			}
		}
		if m.IntervalMS < 0 || m.CheckIntervalMS < 0 {
			return errors.New("negative interval")
		}
	case *Batch:
		if len(m.Defs) > MaxSeriesPerBatch {
			return fmt.Errorf("%d series definitions, limit %d", len(m.Defs), MaxSeriesPerBatch)
		}
		if len(m.Snapshots) > MaxSnapshots {
			return fmt.Errorf("%d snapshots, limit %d", len(m.Snapshots), MaxSnapshots)
		}
		for i := range m.Defs {
			if err := m.Defs[i].validate(); err != nil {
				return fmt.Errorf("series %d: %w", m.Defs[i].ID, err)
			}
		}
		for i, s := range m.Snapshots {
			if len(s.IDs) != len(s.Values) {
				return fmt.Errorf("snapshot %d: %d ids but %d values", i, len(s.IDs), len(s.Values))
			}
		}
	}
	return nil
}

func (d *SeriesDef) validate() error {
	if !ValidName(d.Metric) {
		return fmt.Errorf("invalid metric name %q", truncate(d.Metric))
	}
	if len(d.Labels) > MaxLabels {
		return fmt.Errorf("%d labels, limit %d", len(d.Labels), MaxLabels)
	}
	for _, l := range d.Labels {
		if !ValidName(l.Name) || l.Name == "host" {
			return fmt.Errorf("invalid label name %q", truncate(l.Name))
		}
		if len(l.Value) > MaxLabelValueLen {
			return fmt.Errorf("label %s value longer than %d bytes", l.Name, MaxLabelValueLen)
		}
		if !utf8.ValidString(l.Value) || strings.IndexByte(l.Value, 0) >= 0 {
			return fmt.Errorf("label %s value is not text", l.Name)
		}
	}
	return nil
}

// ValidName reports whether s is a metric or label name in the Prometheus form
// [a-zA-Z_][a-zA-Z0-9_]* and at most MaxNameLen bytes.
func ValidName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// Finite reports whether v is a value the core stores.
func Finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

func typeOf(msg any) (Type, bool) {
	switch msg.(type) {
	case *Hello:
		return TypeHello, true
	case *Welcome:
		return TypeWelcome, true
	case *Batch:
		return TypeBatch, true
	case *Ack:
		return TypeAck, true
	case *Config:
		return TypeConfig, true
	}
	return 0, false
}
