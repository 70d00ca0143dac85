package wire

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// validMessages is one of every message type, filled in the way the agent
// and the core fill them. The fuzz seed corpus is built from it too.
func validMessages() map[string]any {
	return map[string]any{
		"hello": &Hello{
			Version: Version, AgentID: "0f3c9a1e-agent", Token: "esm_agent_secret", AgentVersion: "1.2.3",
			Host: HostFacts{
				Hostname: "web-01", OS: "linux", Platform: "debian", PlatformVersion: "12.5",
				KernelVersion: "6.1.0-18-amd64", Arch: "amd64", CPUModel: "AMD EPYC 7B13",
				Cores: 8, MemoryBytes: 33_554_432_000, BootTime: 1_767_225_600,
			},
			IntervalMS: 10_000,
		},
		"hello minimal": &Hello{Version: Version, AgentID: "a"},
		"welcome":       &Welcome{Version: Version, CoreVersion: "1.2.3", HostID: "web-01"},
		"batch with defs": &Batch{
			Seq: 1,
			Defs: []SeriesDef{
				{ID: 0, Metric: CPUUsagePercent},
				{ID: 1, Metric: DiskUsedPercent, Labels: []Label{{Name: LabelMount, Value: "/"}}},
				{ID: 2, Metric: DiskUsedPercent, Labels: []Label{{Name: LabelMount, Value: `C:\ «système»`}}},
				{ID: 70000, Metric: NetSentBytesTotal, Labels: []Label{{Name: LabelInterface, Value: "eth0"}}},
			},
			Snapshots: []Snapshot{
				{TimeMS: 1_767_225_600_000, IDs: []uint32{0, 1, 2, 70000}, Values: []float64{12.5, 81.25, 0.1, 1 << 40}},
				{TimeMS: 1_767_225_610_000, IDs: []uint32{0}, Values: []float64{-0.000123}},
			},
		},
		"batch steady state": &Batch{Seq: math.MaxUint64, Snapshots: []Snapshot{
			{TimeMS: -1, IDs: []uint32{math.MaxUint32}, Values: []float64{math.MaxFloat64}},
		}},
		"batch with non-finite values": &Batch{Seq: 7, Snapshots: []Snapshot{
			{TimeMS: 1, IDs: []uint32{1, 2, 3}, Values: []float64{math.Inf(1), math.Inf(-1), 0}},
		}},
		"ack":                       &Ack{Seq: 42},
		"ack rejected":              &Ack{Seq: 43, Rejected: 2, Reason: "2 non-finite values"},
		"config":                    &Config{Version: 7, IntervalMS: 10_000, ProcessIntervalMS: -1, Services: []string{"W3SVC"}, Checks: []string{"tcp://db:5432"}, CheckIntervalMS: 60_000},
		"config version only":       &Config{Version: 2},
		"hello with config version": &Hello{Version: Version, AgentID: "a", ConfigVersion: 7, Host: HostFacts{Hostname: "h", OS: "linux"}},
	}
}

func TestRoundTrip(t *testing.T) {
	for name, msg := range validMessages() {
		t.Run(name, func(t *testing.T) {
			frame, err := Encode(msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			want, _ := typeOf(msg)
			if Type(frame[0]) != want {
				t.Errorf("first byte %d, want %s", frame[0], want)
			}
			got, err := Decode(frame)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, msg) {
				t.Errorf("round trip changed the message\n got %#v\nwant %#v", got, msg)
			}
		})
	}
}

func TestRoundTripNaN(t *testing.T) {
	// NaN is not equal to itself, so it gets its own check: the core counts
	// it as rejected, which it can only do if it arrives as NaN.
	frame, err := Encode(&Batch{Seq: 1, Snapshots: []Snapshot{{TimeMS: 1, IDs: []uint32{1}, Values: []float64{math.NaN()}}}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(frame)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.(*Batch).Snapshots[0].Values[0]; !math.IsNaN(v) {
		t.Errorf("value %v, want NaN", v)
	}
}

func TestEncodeRefusesOtherTypes(t *testing.T) {
	for _, msg := range []any{nil, Hello{Version: 1, AgentID: "a"}, "hello", &Label{}} {
		if _, err := Encode(msg); err == nil {
			t.Errorf("Encode(%T) succeeded, want an error", msg)
		}
	}
}

func TestValidate(t *testing.T) {
	def := func(metric string, labels ...Label) *Batch {
		return &Batch{Seq: 1, Defs: []SeriesDef{{ID: 1, Metric: metric, Labels: labels}}}
	}
	label := func(name, value string) Label { return Label{Name: name, Value: value} }
	manyLabels := make([]Label, MaxLabels+1)
	for i := range manyLabels {
		manyLabels[i] = label("l"+strings.Repeat("x", i), "v")
	}
	tests := []struct {
		name    string
		msg     any
		wantErr string // "" for valid
	}{
		{"plain metric", def("cpu_usage_percent"), ""},
		{"metric with digits and capitals", def("_Node_cpu2"), ""},
		{"metric of max length", def(strings.Repeat("m", MaxNameLen)), ""},
		{"label value of max length", def("m", label("mount", strings.Repeat("v", MaxLabelValueLen))), ""},
		{"empty label value", def("m", label("mount", "")), ""},
		{"unicode label value", def("m", label("mount", "/mnt/données")), ""},
		{"max labels", def("m", manyLabels[:MaxLabels]...), ""},

		{"empty metric", def(""), "invalid metric name"},
		{"metric starting with digit", def("1cpu"), "invalid metric name"},
		{"metric with dash", def("cpu-usage"), "invalid metric name"},
		{"metric with dot", def("cpu.usage"), "invalid metric name"},
		{"metric with space", def("cpu usage"), "invalid metric name"},
		{"metric with non-ASCII", def("cpü"), "invalid metric name"},
		{"metric too long", def(strings.Repeat("m", MaxNameLen+1)), "invalid metric name"},
		{"label name host", def("m", label("host", "spoofed")), `invalid label name "host"`},
		{"empty label name", def("m", label("", "v")), "invalid label name"},
		{"label name with dash", def("m", label("mount-point", "/")), "invalid label name"},
		{"label value with NUL", def("m", label("mount", "/a\x00b")), "not text"},
		{"label value invalid UTF-8", def("m", label("mount", "/a\xffb")), "not text"},
		{"label value too long", def("m", label("mount", strings.Repeat("v", MaxLabelValueLen+1))), "longer than"},
		{"too many labels", def("m", manyLabels...), "labels, limit"},
		{"too many defs", &Batch{Defs: make([]SeriesDef, MaxSeriesPerBatch+1)}, "series definitions, limit"},
		{"too many snapshots", &Batch{Snapshots: make([]Snapshot, MaxSnapshots+1)}, "snapshots, limit"},
		{"more ids than values", &Batch{Snapshots: []Snapshot{{IDs: []uint32{1, 2}, Values: []float64{1}}}}, "2 ids but 1 values"},
		{"more values than ids", &Batch{Snapshots: []Snapshot{{}, {IDs: []uint32{1}, Values: []float64{1, 2}}}}, "snapshot 1: 1 ids but 2 values"},

		{"hello", &Hello{Version: 1, AgentID: "a"}, ""},
		{"hello without agent id", &Hello{Version: 1, Token: "t"}, "agent id is empty"},
		{"hello agent id too long", &Hello{AgentID: strings.Repeat("a", MaxNameLen+1)}, "too long"},
		{"hello token too long", &Hello{AgentID: "a", Token: strings.Repeat("t", MaxLabelValueLen+1)}, "too long"},
		{"hello hostname too long", &Hello{AgentID: "a", Host: HostFacts{Hostname: strings.Repeat("h", MaxLabelValueLen+1)}}, "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.msg)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("Validate: %v, want nil", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("Validate: nil, want error containing %q", tt.wantErr)
			case err != nil && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("Validate: %q, want it to contain %q", err, tt.wantErr)
			}
			if tt.wantErr == "" {
				return
			}
			// Decode must refuse the same message as malformed: the core
			// relies on Decode alone to keep bad frames out.
			frame, err := Encode(tt.msg)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if _, err := Decode(frame); !errors.Is(err, ErrMalformed) {
				t.Errorf("Decode: %v, want ErrMalformed", err)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	valid, err := Encode(&Ack{Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"nil", nil, ErrEmpty},
		{"empty", []byte{}, ErrEmpty},
		{"type zero", []byte{0, 0xa0}, ErrUnknownType},
		{"type six", append([]byte{6}, valid[1:]...), ErrUnknownType},
		{"config without version", append([]byte{byte(TypeConfig)}, 0xa0), ErrMalformed},
		{"type 255", []byte{255}, ErrUnknownType},
		{"type only", []byte{byte(TypeAck)}, ErrMalformed},
		{"garbage", []byte{byte(TypeBatch), 0xff, 0x00, 0x13, 0x37}, ErrMalformed},
		{"text instead of map", append([]byte{byte(TypeHello)}, []byte("\x65hello")...), ErrMalformed},
		{"truncated", valid[:len(valid)-1], ErrMalformed},
		{"trailing bytes", append(append([]byte{}, valid...), 0x00), ErrMalformed},
		{"wrong field type", []byte{byte(TypeAck), 0xa1, 0x01, 0x61, 'x'}, ErrMalformed},     // {1: "x"}
		{"duplicate key", []byte{byte(TypeAck), 0xa2, 0x01, 0x01, 0x01, 0x02}, ErrMalformed}, // {1: 1, 1: 2}
		{"indefinite length", []byte{byte(TypeAck), 0xbf, 0x01, 0x01, 0xff}, ErrMalformed},
		{"tag", []byte{byte(TypeAck), 0xc1, 0xa1, 0x01, 0x01}, ErrMalformed},
		{"hello failing validation", mustEncode(t, &Hello{Version: 1}), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			msg, err := Decode(tt.frame)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode: (%v, %v), want error %v", msg, err, tt.want)
			}
			if msg != nil {
				t.Errorf("Decode returned %#v with its error", msg)
			}
		})
	}
}

func TestDecodeNestingLimit(t *testing.T) {
	// A deeply nested frame must be refused cheaply rather than recursed into.
	deep := []byte{byte(TypeBatch)}
	for range 100 {
		deep = append(deep, 0x81) // array of one
	}
	deep = append(deep, 0x00)
	if _, err := Decode(deep); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Decode: %v, want ErrMalformed", err)
	}
}

// TestSteadyStateSize checks the point of SeriesDef: once series are defined,
// a batch carries small numbers and values, not names. The bounds are measured
// (see the comments) with a little room; a change that puts strings or
// per-sample keys back into the steady-state frame breaks them.
func TestSteadyStateSize(t *testing.T) {
	const series = 60
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		name  string
		value func(i int) float64
		max   float64 // bytes per sample
	}{
		// Whole numbers (counts, percentages that land on halves) shrink to
		// half-precision floats: 1-2 bytes of id + 3 of value. Measured 5.05.
		{"small whole and half values", func(i int) float64 { return float64(r.IntN(200)) / 2 }, 5.5},
		// A third each of arbitrary percentages, byte counts and small
		// integers, the shape of a real agent batch. Measured 9.05.
		{"mixed agent values", func(i int) float64 {
			switch i % 3 {
			case 0:
				return r.Float64() * 100
			case 1:
				return float64(r.Int64N(1 << 40))
			}
			return float64(r.IntN(100))
		}, 9.5},
		// Every value needs a full float64 (9 bytes in CBOR): the floor of
		// the encoding. Measured 11.05.
		{"arbitrary float64 values", func(i int) float64 { return r.Float64() * 100 }, 11.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Snapshot{TimeMS: 1_767_225_600_000}
			for i := range series {
				s.IDs = append(s.IDs, uint32(i))
				s.Values = append(s.Values, tt.value(i))
			}
			frame := mustEncode(t, &Batch{Seq: 1_000_000, Snapshots: []Snapshot{s}})
			perSample := float64(len(frame)) / series
			t.Logf("%d bytes, %.2f per sample", len(frame), perSample)
			if perSample >= tt.max {
				t.Errorf("%.2f bytes per sample, want < %.1f", perSample, tt.max)
			}
		})
	}
}

func TestTypeString(t *testing.T) {
	for typ, want := range map[Type]string{TypeHello: "hello", TypeWelcome: "welcome", TypeBatch: "batch", TypeAck: "ack", 9: "type(9)"} {
		if got := typ.String(); got != want {
			t.Errorf("Type(%d).String() = %q, want %q", uint8(typ), got, want)
		}
	}
}

func mustEncode(t testing.TB, msg any) []byte {
	t.Helper()
	b, err := Encode(msg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzDecode feeds Decode arbitrary frames. It must never panic, and whatever
// it accepts must survive Encode and Decode again unchanged: the core and
// the agent must agree on every frame either of them can produce.
func FuzzDecode(f *testing.F) {
	for _, msg := range validMessages() {
		f.Add(mustEncode(f, msg))
	}
	f.Add([]byte{})
	f.Add([]byte{byte(TypeBatch)})
	f.Add([]byte{byte(TypeAck), 0xa0})
	f.Fuzz(func(t *testing.T, frame []byte) {
		msg, err := Decode(frame)
		if err != nil {
			if msg != nil {
				t.Fatalf("Decode returned %#v with error %v", msg, err)
			}
			if !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrUnknownType) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Decode error %v wraps none of the documented errors", err)
			}
			return
		}
		if err := Validate(msg); err != nil {
			t.Fatalf("Decode accepted a message Validate refuses: %v", err)
		}
		again, err := Encode(msg)
		if err != nil {
			t.Fatalf("Encode of a decoded %T: %v", msg, err)
		}
		msg2, err := Decode(again)
		if err != nil {
			t.Fatalf("Decode of a re-encoded %T: %v\nframe %x", msg, err, again)
		}
		// Compare encodings rather than values: NaN is not equal to itself,
		// and an empty list may come back as nil, which encodes the same.
		third, err := Encode(msg2)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		if !bytes.Equal(again, third) {
			t.Fatalf("message changed on the second round trip\nfirst  %x\nsecond %x\n%#v\n%#v", again, third, msg, msg2)
		}
	})
}

// TestDecodeIntoReuses decodes a run of batches of changing shapes into one
// Batch, as the core does on a connection, and checks each against a fresh
// Decode: nothing of an earlier batch may show through (a snapshot with
// fewer samples, a field a frame leaves out, definitions sent only once).
func TestDecodeIntoReuses(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	var into Batch
	frames := [][]byte{}
	for range 300 {
		b := &Batch{Seq: r.Uint64N(1 << 40)}
		if r.IntN(4) == 0 {
			b.Defs = []SeriesDef{{ID: uint32(r.IntN(100)), Metric: "cpu_usage_percent", Labels: []Label{{Name: "core", Value: "0"}}}}
		}
		for range r.IntN(6) + 1 {
			s := Snapshot{TimeMS: r.Int64N(1 << 41)}
			for i := range r.IntN(40) {
				s.IDs = append(s.IDs, uint32(i))
				s.Values = append(s.Values, r.NormFloat64())
			}
			b.Snapshots = append(b.Snapshots, s)
		}
		frames = append(frames, mustEncode(t, b))
	}
	// A snapshot that leaves out its ids and values (a map with the time
	// only), after batches whose snapshots had many.
	bare, err := cbor.Marshal(map[int]any{1: uint64(9), 3: []map[int]any{{1: int64(1234)}, {1: int64(1235)}}})
	if err != nil {
		t.Fatal(err)
	}
	frames = append(frames, append([]byte{byte(TypeBatch)}, bare...))
	for i, f := range frames {
		want, err := Decode(f)
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		got, err := DecodeInto(f, &into)
		if err != nil {
			t.Fatalf("frame %d: DecodeInto: %v", i, err)
		}
		if got != any(&into) {
			t.Fatalf("frame %d: DecodeInto returned %p, not the batch it was given", i, got)
		}
		if d := batchDiff(want.(*Batch), &into); d != "" {
			t.Fatalf("frame %d: DecodeInto differs from Decode: %s", i, d)
		}
	}
	// Other messages are decoded as Decode does.
	got, err := DecodeInto(mustEncode(t, &Ack{Seq: 5}), &into)
	if a, ok := got.(*Ack); err != nil || !ok || a.Seq != 5 {
		t.Fatalf("DecodeInto(ack) = %#v, %v", got, err)
	}
}

// batchDiff compares two batches, taking a nil slice and an empty one as
// equal (a reused batch keeps empty slices where a fresh one has none).
func batchDiff(a, b *Batch) string {
	if a.Seq != b.Seq {
		return fmt.Sprintf("seq %d vs %d", a.Seq, b.Seq)
	}
	if len(a.Defs) != len(b.Defs) || (len(a.Defs) > 0 && !reflect.DeepEqual(a.Defs, b.Defs)) {
		return fmt.Sprintf("defs %v vs %v", a.Defs, b.Defs)
	}
	if len(a.Snapshots) != len(b.Snapshots) {
		return fmt.Sprintf("%d vs %d snapshots", len(a.Snapshots), len(b.Snapshots))
	}
	for i := range a.Snapshots {
		x, y := a.Snapshots[i], b.Snapshots[i]
		if x.TimeMS != y.TimeMS || !slices.Equal(x.IDs, y.IDs) || len(x.Values) != len(y.Values) {
			return fmt.Sprintf("snapshot %d: %+v vs %+v", i, x, y)
		}
		for j := range x.Values {
			if math.Float64bits(x.Values[j]) != math.Float64bits(y.Values[j]) {
				return fmt.Sprintf("snapshot %d value %d: %v vs %v", i, j, x.Values[j], y.Values[j])
			}
		}
	}
	return ""
}

// FuzzDecodeBatchFast: whatever batch body the fast path takes, the
// general decoder takes too and reads the same batch, bit for bit; the fast
// path only ever saves work. Its seeds are batches of every value width
// (half, single and double floats, NaN and infinities, subnormals),
// negative times and the largest ids.
func FuzzDecodeBatchFast(f *testing.F) {
	vals := []float64{0, -0.0, 12.5, 1e-7, 6e-8, 65504, 1 << 20, 0.1, math.Pi, math.Inf(1), math.Inf(-1), math.NaN(), math.SmallestNonzeroFloat64, 3.4e38}
	for _, b := range []*Batch{
		{Seq: 1, Snapshots: []Snapshot{{TimeMS: 1_764_000_000_000, IDs: []uint32{0, 1, math.MaxUint32}, Values: vals[:3]}}},
		{Seq: math.MaxUint64, Snapshots: []Snapshot{{TimeMS: -5, IDs: make([]uint32, len(vals)), Values: vals}, {TimeMS: math.MinInt64}}},
		{Seq: 7},
		{Seq: 8, Defs: []SeriesDef{{ID: 1, Metric: "m"}}, Snapshots: []Snapshot{{TimeMS: 1, IDs: []uint32{1}, Values: []float64{1}}}},
	} {
		f.Add(mustEncode(f, b)[1:])
	}
	f.Add([]byte{0xa1, 0x03, 0x81, 0xa1, 0x03, 0x81, 0xf9, 0x7c, 0x01}) // a half-precision signalling NaN
	f.Add([]byte{0xa1, 0x03, 0x81, 0xa1, 0x03, 0x81, 0xf9, 0x00, 0x01}) // the smallest half subnormal
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast Batch
		if !decodeBatchFast(body, &fast) {
			return
		}
		var want Batch
		if err := decMode.Unmarshal(body, &want); err != nil {
			t.Fatalf("the fast path took what the general decoder refuses (%v): %x", err, body)
		}
		if d := batchDiff(&want, &fast); d != "" {
			t.Fatalf("the fast path read another batch: %s\n%x", d, body)
		}
		// nil and empty lists encode differently (null, []): they must
		// come out as the general decoder has them.
		if a, b := mustEncode(t, &want), mustEncode(t, &fast); !bytes.Equal(a, b) {
			t.Fatalf("the fast path's batch encodes as %x, the general decoder's as %x", b, a)
		}
		// Into a batch that held another one, as a connection's is.
		reused := Batch{Snapshots: []Snapshot{{TimeMS: 9, IDs: []uint32{1, 2, 3}, Values: []float64{1, 2, 3}}, {TimeMS: 10}}}
		reused.reset()
		if !decodeBatchFast(body, &reused) {
			t.Fatal("the fast path refused into a used batch what it took into a fresh one")
		}
		if d := batchDiff(&want, &reused); d != "" {
			t.Fatalf("into a used batch the fast path read another batch: %s\n%x", d, body)
		}
	})
}

// TestFastBatchPathTaken: the batches agents send (no definitions) take
// the fast path; a batch with definitions takes the general decoder; both
// decode to what was encoded.
func TestFastBatchPathTaken(t *testing.T) {
	plain := &Batch{Seq: 3, Snapshots: []Snapshot{{TimeMS: 1_764_000_000_000, IDs: []uint32{1, 2}, Values: []float64{12.5, 0.1}}}}
	defs := &Batch{Seq: 4, Defs: []SeriesDef{{ID: 1, Metric: "m"}}, Snapshots: plain.Snapshots}
	for _, tc := range []struct {
		b    *Batch
		fast bool
	}{{plain, true}, {defs, false}} {
		frame := mustEncode(t, tc.b)
		var into Batch
		if got := decodeBatchFast(frame[1:], &into); got != tc.fast {
			t.Errorf("batch %d: fast path %v, want %v", tc.b.Seq, got, tc.fast)
		}
		into.reset()
		got, err := DecodeInto(frame, &into)
		if err != nil {
			t.Fatal(err)
		}
		if d := batchDiff(tc.b, got.(*Batch)); d != "" || !reflect.DeepEqual(tc.b.Defs, got.(*Batch).Defs) {
			t.Errorf("batch %d decoded differently: %s", tc.b.Seq, d)
		}
	}
}

// BenchmarkDecodeBatch decodes a batch of one snapshot of 500 values (a
// random walk, as the throughput scenario sends) into a reused Batch, by
// the fast path and by the general decoder.
func BenchmarkDecodeBatch(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	s := Snapshot{TimeMS: 1_764_000_000_000}
	v := 50.0
	for i := range 500 {
		v += r.NormFloat64()
		s.IDs = append(s.IDs, uint32(i))
		s.Values = append(s.Values, v)
	}
	frame := mustEncode(b, &Batch{Seq: 1, Snapshots: []Snapshot{s}})
	for _, path := range []string{"fast", "general"} {
		b.Run(path, func(b *testing.B) {
			var into Batch
			b.ReportAllocs()
			for b.Loop() {
				into.reset()
				if path == "fast" {
					if !decodeBatchFast(frame[1:], &into) {
						b.Fatal("fast path refused")
					}
				} else if err := decMode.Unmarshal(frame[1:], &into); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*500), "ns/sample")
		})
	}
}
