// Command tsdata makes and measures the store's benchmark datasets: a
// host-monitoring fleet generated in the shape of TSBS "devops", and
// samples recorded from this machine by the agent's collectors.
//
//	tsdata record -out recorded.gob -n 3600 -interval 1s
//	tsdata ingest -dataset devops -hosts 100 -hours 24 -dir /tmp/d
//	tsdata ingest -dataset recorded -in recorded.gob -dir /tmp/r
//	tsdata tables -dir /tmp/copy-of-a-core/db
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tsdata record|ingest|tables [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "record":
		err = record(os.Args[2:])
	case "ingest":
		err = ingest(os.Args[2:])
	case "tables":
		err = tables(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tsdata:", err)
		os.Exit(1)
	}
}
