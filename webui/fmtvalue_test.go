package webui_test

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"esmon/core/apiv1"
	"esmon/internal/testenv"
)

// fmtValueScript reads the values from the file its first argument names,
// formats each with the module its second argument names, and prints the
// results as a JSON array. The values come as JSON numbers, except those
// JSON has no number for, which come as strings.
const fmtValueScript = `
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
const [valuesPath, modulePath] = process.argv.slice(1);
const { fmtValue } = await import(pathToFileURL(modulePath).href);
const special = { "NaN": NaN, "+Inf": Infinity, "-Inf": -Infinity, "-0": -0 };
const values = JSON.parse(readFileSync(valuesPath, "utf8"));
const out = values.map((v) => fmtValue(typeof v === "string" ? special[v] : v));
process.stdout.write(JSON.stringify(out));
`

// TestFmtValueMatchesGo formats edge cases and many random values with both
// the core's apiv1.FormatValue (which alert summaries use) and
// src/fmtvalue.js in Node, and wants the same text from each: the page
// builds the summaries the feed leaves out (apiv1.PlainSummary).
// JavaScript's own formatting rounds ties differently and writes exponents
// differently, so the module is easy to get subtly wrong.
func TestFmtValueMatchesGo(t *testing.T) {
	node := testenv.LookPath(t, "node")
	module, err := filepath.Abs(filepath.Join("src", "fmtvalue.js"))
	if err != nil {
		t.Fatal(err)
	}

	values := fmtValueCases()
	valuesPath := filepath.Join(t.TempDir(), "values.json")
	if err := os.WriteFile(valuesPath, encodeFloats(values), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "--input-type=module", "-e", fmtValueScript, "--", valuesPath, module)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got []string
	if err := json.Unmarshal(stdout, &got); err != nil {
		t.Fatalf("node's output: %v", err)
	}
	if len(got) != len(values) {
		t.Fatalf("node formatted %d values, want %d", len(got), len(values))
	}

	mismatches := 0
	for i, v := range values {
		want := apiv1.FormatValue(v)
		if got[i] == want {
			continue
		}
		mismatches++
		if mismatches <= 20 {
			t.Errorf("fmtValue(%v) (bits %#016x) = %q in JavaScript, %q in Go", v, math.Float64bits(v), got[i], want)
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d values differ", mismatches, len(values))
	}
	t.Logf("compared %d values", len(values))
}

// encodeFloats writes values as a JSON array that gives back the very same
// float64s: the shortest decimal that round-trips for each number, and a
// string for NaN, the infinities and -0, which JSON numbers cannot carry (or,
// for -0, which a parser may not keep).
func encodeFloats(values []float64) []byte {
	var b strings.Builder
	b.WriteByte('[')
	for i, v := range values {
		if i > 0 {
			b.WriteByte(',')
		}
		switch {
		case math.IsNaN(v):
			b.WriteString(`"NaN"`)
		case math.IsInf(v, 1):
			b.WriteString(`"+Inf"`)
		case math.IsInf(v, -1):
			b.WriteString(`"-Inf"`)
		case v == 0 && math.Signbit(v):
			b.WriteString(`"-0"`)
		default:
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	b.WriteByte(']')
	return []byte(b.String())
}

// fmtValueCases returns the hand-picked edge cases, with their negatives,
// and about 200,000 random values from a fixed seed, so that a failure
// repeats.
func fmtValueCases() []float64 {
	edges := []float64{
		0, 1, 42, 5, 999999, 0.5, 0.001, 0.1, 0.01, 0.05,
		// Ties between hundredths: Go rounds them to even.
		0.125, 0.375, 0.625, 0.875, 1.125, 2.625, 999999.125, 999999.875,
		// Near-ties that are not exact in binary.
		0.005, 0.015, 0.025, 1.005, 2.675, 1.115, 999999.995, 999999.5, 999999.99,
		1e6 - 0.001, math.Nextafter(1e6, 0),
		// From 1e6 on, six significant digits with an exponent.
		1e6, 1e6 + 0.5, 1e6 + 1, 1234565, 1234575, 1234565.0000001, 1234564.9999999,
		1234565.5, 9999995, 9999994.5, 9999994.999999, 9999995.000001, 9999985,
		1.5e20, 1e21, 1e22, 1e100, 123456789012345678, 1e300,
		// 2^53 + 1 has no float64: the next one up is 2^53 + 2.
		1 << 53, 1<<53 - 1, 1<<53 + 2, 1 << 62, 1 << 63,
		math.MaxFloat64, math.Nextafter(math.MaxFloat64, 0),
		// Tiny values.
		math.SmallestNonzeroFloat64, 2 * math.SmallestNonzeroFloat64, 0x1p-1022, 1e-300, 1e-10,
		math.NaN(), math.Inf(1),
	}
	var values []float64
	for _, v := range edges {
		values = append(values, v, -v)
	}

	r := rand.New(rand.NewPCG(1, 2))
	sign := func(v float64) float64 {
		if r.IntN(2) == 0 {
			return -v
		}
		return v
	}
	pow10 := func(n int) int64 {
		p := int64(1)
		for range n {
			p *= 10
		}
		return p
	}
	for range 30000 {
		// Any float64 at all, most of them huge or tiny.
		values = append(values, math.Float64frombits(r.Uint64()))
	}
	for range 30000 {
		// Integers of 1 to 17 digits.
		values = append(values, sign(float64(r.Int64N(pow10(1+r.IntN(17))))))
	}
	for range 25000 {
		// Multiples of 1/8, among them every tie between hundredths.
		values = append(values, sign(float64(r.Int64N(pow10(1+r.IntN(9))))/8))
	}
	for range 25000 {
		// Multiples of 0.005, halfway between hundredths before rounding to
		// binary.
		values = append(values, sign(float64(r.Int64N(pow10(1+r.IntN(9))))*0.005))
	}
	for range 30000 {
		// Hundredths and the values a few ulps or a tiny amount beside them.
		v := float64(r.Int64N(pow10(1+r.IntN(9)))) / 100
		switch r.IntN(3) {
		case 0:
			for range 1 + r.IntN(4) {
				v = math.Nextafter(v, math.Inf(1))
			}
		case 1:
			for range 1 + r.IntN(4) {
				v = math.Nextafter(v, 0)
			}
		default:
			v += (r.Float64() - 0.5) * 1e-6
		}
		values = append(values, sign(v))
	}
	for range 30000 {
		// Six significant digits and a 5 after them, which Go rounds to
		// even, then as often a fraction or a further digit that breaks the
		// tie.
		q := float64(100000 + r.Int64N(900000))
		scale := float64(pow10(1 + r.IntN(10)))
		v := q*scale + scale/2
		switch r.IntN(4) {
		case 0:
			v += 0.5
		case 1:
			v -= 0.25
		case 2:
			v = math.Nextafter(v, math.Inf(r.IntN(2)*2-1))
		}
		values = append(values, sign(v))
	}
	for range 30000 {
		// Anything from 1e-8 to 1e25.
		values = append(values, sign(r.Float64()*math.Pow(10, float64(r.IntN(34)-8))))
	}
	return values
}
