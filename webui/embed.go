// Package webui holds the web dashboard that the core serves at "/": pages
// for the overview, each host (with uPlot charts), alerts and rules, written
// as ES modules in src/ and bundled by esbuild (npm, from the committed
// package-lock.json) into dist/, which is embedded in the binary. The page
// needs nothing from the network but the core itself (operations networks
// are often closed).
//
// dist/ is built, not committed: `make webui` (which `make build`, `run`
// and `test` run first) does `npm ci` and `npm run build`. A Go build of
// this package without it fails with "pattern dist: no matching files".
//
// The page speaks the JSON of esmon/core/apiv1: it signs in with
// POST /api/v1/session, follows the live feed on /ws/live, and reads
// history from /api/v1/query. Its URLs are relative and its routes live in
// the URL's fragment, so a reverse proxy may mount it under a path prefix.
package webui

import (
	"embed"
	"io/fs"
)

//go:embed dist
var dist embed.FS

// FS returns the dashboard's files, with index.html at the root. Serve it
// with http.FileServerFS.
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // the directory is embedded above, so this cannot happen
	}
	return sub
}
