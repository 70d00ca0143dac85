package collect

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
)

// userHZ is the unit of the CPU times in /proc/[pid]/stat: USER_HZ, which
// Linux fixes at 100 on every architecture the agent is built for.
const userHZ = 100

// Processes implements ProcessSource by reading /proc/[pid]/stat alone, one
// read per process: gopsutil reads several files per process and took
// about 300 µs of CPU each, which the process scan would spend every 30 s.
// Names are the kernel's comm, cut at 15 bytes. A process that ends during
// the scan is left out.
func (System) Processes(ctx context.Context) ([]ProcessInfo, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("list /proc: %w", err)
	}
	page := uint64(os.Getpagesize())
	buf := make([]byte, 1024)
	out := make([]ProcessInfo, 0, len(names))
	for _, n := range names {
		if n[0] < '0' || n[0] > '9' {
			continue
		}
		if err := ctx.Err(); err != nil {
			return out, err
		}
		pid, err := strconv.ParseInt(n, 10, 32)
		if err != nil {
			continue
		}
		f, err := os.Open("/proc/" + n + "/stat")
		if err != nil {
			continue
		}
		k, _ := f.Read(buf)
		f.Close()
		if p, ok := parseProcStat(buf[:k], page); ok {
			p.PID = int32(pid)
			out = append(out, p)
		}
	}
	return out, nil
}

// parseProcStat reads the name, CPU times and resident pages of one
// /proc/[pid]/stat line: "pid (comm) state ppid ... utime stime ... rss ...".
// The name may hold spaces and parentheses, so it ends at the last ')'.
func parseProcStat(b []byte, pageSize uint64) (ProcessInfo, bool) {
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return ProcessInfo{}, false
	}
	p := ProcessInfo{Name: string(b[open+1 : end])}
	// Fields after the name, numbered as in proc(5): state is 3.
	fields := bytes.Fields(b[end+1:])
	field := func(n int) (uint64, bool) {
		i := n - 3
		if i >= len(fields) {
			return 0, false
		}
		v, err := strconv.ParseUint(string(fields[i]), 10, 64)
		return v, err == nil
	}
	utime, ok1 := field(14)
	stime, ok2 := field(15)
	rss, ok3 := field(24)
	if !ok1 || !ok2 || !ok3 {
		return ProcessInfo{}, false
	}
	p.CPUSeconds = float64(utime+stime) / userHZ
	p.RSSBytes = rss * pageSize
	return p, true
}
