package store

import (
	"fmt"

	"esmon/core/store/chunkenc"
)

// flushItem is a series and the finished chunks of it that one flush
// writes.
type flushItem struct {
	ms   *memSeries
	refs []*chunkRef
}

// quotients finds, among the chunks a flush is about to write, those
// whose values are an exact percentage or difference of two other series'
// values of the same host, window and first timestamp (memory used
// percent of used and total bytes, memory available of total and used:
// chunkenc.EncQuotient), and returns what to write for them instead: a
// quotient chunk naming the two series. The operands are
// written in the same batch, and share the quotient's window, so its
// retention: the quotient's operands are there as long as it is. Only
// Badger holds the quotient form; the head keeps the chunk as it was.
func quotients(items []flushItem) map[*chunkRef][]byte {
	type group struct {
		refs []*chunkRef
		ids  []uint64
	}
	type key struct {
		host          string
		window, first int64
	}
	groups := map[key]*group{}
	for _, it := range items {
		host := it.ms.host()
		for _, c := range it.refs {
			k := key{host, c.window, c.firstT}
			g := groups[k]
			if g == nil {
				g = &group{}
				groups[k] = g
			}
			g.refs, g.ids = append(g.refs, c), append(g.ids, it.ms.id)
		}
	}
	var out map[*chunkRef][]byte
	var datas [][]byte
	for _, g := range groups {
		if len(g.refs) < 3 {
			continue
		}
		datas = datas[:0]
		for _, c := range g.refs {
			datas = append(datas, c.data)
		}
		for _, dv := range chunkenc.FindQuotients(datas) {
			if out == nil {
				out = map[*chunkRef][]byte{}
			}
			out[g.refs[dv.X]] = chunkenc.AppendQuotient(nil, chunkenc.Quotient{
				N: chunkenc.Count(datas[dv.X]), Form: dv.Form, Num: g.ids[dv.A], Den: g.ids[dv.B], C: dv.C})
		}
	}
	return out
}

// quotientPoints returns the samples of the quotient chunk q, reading
// its operands' chunks (of the same series' piece and first timestamp)
// with operand.
func quotientPoints(q []byte, operand func(id uint64) ([]byte, error)) ([]Point, error) {
	qc, err := chunkenc.ParseQuotient(q)
	if err != nil {
		return nil, err
	}
	num, err := operand(qc.Num)
	if err != nil {
		return nil, fmt.Errorf("quotient's operand, series %d: %w", qc.Num, err)
	}
	den, err := operand(qc.Den)
	if err != nil {
		return nil, fmt.Errorf("quotient's operand, series %d: %w", qc.Den, err)
	}
	ts, vs, err := chunkenc.QuotientSamples(qc, num, den, make([]int64, 0, qc.N), make([]float64, 0, qc.N))
	if err != nil {
		return nil, err
	}
	pts := make([]Point, len(ts))
	for i, t := range ts {
		pts[i] = Point{T: t, V: vs[i]}
	}
	return pts, nil
}
