// Package webui holds the web dashboard that the core serves at "/": one
// HTML page, one ES module and one style sheet, written by hand and embedded
// in the binary, so the page needs nothing from the network but the core
// itself (operations networks are often closed).
//
// The page speaks the JSON of esmon/core/apiv1: it signs in with
// POST /api/v1/session, then follows the live feed on /ws/live. Its URLs
// are relative, so a reverse proxy may mount it under a path prefix.
package webui

import (
	"embed"
	"io/fs"
)

//go:embed static
var static embed.FS

// FS returns the dashboard's files, with index.html at the root. Serve it
// with http.FileServerFS.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directory is embedded above, so this cannot happen
	}
	return sub
}
