// Package browsertest starts a real headless Chromium for tests that drive a
// web page through chromedp.
//
// The browser runs with a fixed, short list of flags and a fresh profile in
// the test's temporary directory, so it does not reach the network on its
// own (no component updates, sync or background requests) and no state
// leaks between tests. A missing Chromium skips the test, or fails it under
// ESMON_TEST_STRICT=1 (see esmon/internal/testenv).
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"esmon/internal/testenv"
)

// flags are the command-line flags Chromium gets, besides --user-data-dir
// and the debugging pipe that chromedp adds. No others: chromedp's default
// list is not used.
var flags = []string{
	"headless",
	"no-sandbox",
	"disable-gpu",
	"disable-background-networking",
	"disable-component-update",
	"disable-sync",
	"no-first-run",
}

// The size of the page New opens, in CSS pixels.
const (
	viewportWidth  = 1280
	viewportHeight = 800
)

// New starts Chromium for t and returns a chromedp context for one tab of it,
// sized 1280×800. The browser stops when the test ends.
//
// Chromium trusts a server whose certificate carries one of the public keys
// pinned in trust (SPKI SHA-256 pins in base64, see wire.SPKIPin), through
// its --ignore-certificate-errors-spki-list flag: that is how a test's
// browser reaches an esmon core with its self-signed certificate, checked
// by exactly the pin an agent checks, and no other certificate error is
// ignored.
//
// While the test runs, every console message of the page is logged with
// t.Logf, and an uncaught exception or unhandled promise rejection fails the
// test: a page that throws is broken even when the test's assertions pass.
// Derive per-step timeouts from the returned context with
// context.WithTimeout; do not put a deadline on the browser itself.
func New(t testing.TB, trust ...string) context.Context {
	t.Helper()
	path := testenv.LookPath(t, "chromium")

	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
	}
	for _, f := range flags {
		opts = append(opts, chromedp.Flag(f, true))
	}
	if len(trust) > 0 {
		opts = append(opts, chromedp.Flag("ignore-certificate-errors-spki-list", strings.Join(trust, ",")))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithErrorf(func(format string, args ...any) { t.Logf("chromedp: "+format, args...) }),
	)

	// The first Run starts the browser; its context must have no deadline.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(viewportWidth, viewportHeight)); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium (%s): %v", path, err)
	}

	// Forward the page's console to the test log until cleanup.
	var (
		mu   sync.Mutex
		done bool
	)
	consoleCtx, stopConsole := context.WithCancel(ctx)
	messages := chromedp.Console(consoleCtx)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		for m, err := range messages {
			if err != nil {
				return
			}
			mu.Lock()
			if !done {
				if m.IsException() {
					t.Errorf("browser: uncaught %s (%s:%d)", m.Text, m.URL, m.Line+1)
				} else {
					t.Logf("browser console %s", m)
				}
			}
			mu.Unlock()
		}
	}()

	t.Cleanup(func() {
		stopConsole()
		<-finished
		mu.Lock()
		done = true
		mu.Unlock()
		cancelTab()
		cancelAlloc()
	})
	return ctx
}

// Screenshot captures the whole page as PNG into name (a file name such as
// "dashboard.png") under t.TempDir(), and returns its path. When the
// environment variable ESMON_SCREENSHOT_DIR is set, it also writes a copy
// there, so a developer or CI can look at it after the test.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if dir := os.Getenv("ESMON_SCREENSHOT_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		copyPath := filepath.Join(dir, name)
		if err := os.WriteFile(copyPath, png, 0o644); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		t.Logf("screenshot: %s", copyPath)
	} else {
		t.Logf("screenshot: %s (set ESMON_SCREENSHOT_DIR to keep it)", path)
	}
	return path
}

// Page runs chromedp steps on one tab and fails the test with what it
// waited for.
type Page struct {
	T   testing.TB
	Ctx context.Context
}

// Do runs steps and fails the test on an error.
func (p *Page) Do(steps ...chromedp.Action[chromedp.Void]) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, steps...); err != nil {
		p.T.Fatal(err)
	}
}

// ColorScheme emulates prefers-color-scheme: "dark", "light", or "" for the
// browser's own.
func (p *Page) ColorScheme(v string) {
	p.T.Helper()
	_, err := chromedp.Call(p.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: v}},
	})
	if err != nil {
		p.T.Fatal(err)
	}
}

// Eval evaluates a JavaScript expression in the page.
func (p *Page) Eval(expr string) any {
	p.T.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[any](expr))
	if err != nil {
		p.T.Fatalf("%s: %v", expr, err)
	}
	return v
}

// EvalString evaluates a JavaScript expression that yields a string.
func (p *Page) EvalString(expr string) string {
	p.T.Helper()
	v, err := chromedp.Run(p.Ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		p.T.Fatalf("%s: %v", expr, err)
	}
	return v
}

// WaitJS waits up to 5 s for the expression to be truthy.
func (p *Page) WaitJS(expr, what string) {
	p.T.Helper()
	if err := chromedp.Do(p.Ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		p.T.Fatalf("waiting for %s: %v", what, err)
	}
}

// WaitText waits for the trimmed text of the element that sel finds to be want.
func (p *Page) WaitText(sel, want string) {
	p.T.Helper()
	q, _ := json.Marshal(sel)
	get := fmt.Sprintf(`(document.querySelector(%s)?.textContent ?? "<no element>").trim()`, q)
	w, _ := json.Marshal(want)
	err := chromedp.Do(p.Ctx, chromedp.Poll[chromedp.Void](get+" === "+string(w), chromedp.WithPollingTimeout(5*time.Second)))
	if err != nil {
		p.T.Fatalf("%s: text = %q, want %q (%v)", sel, p.EvalString(get), want, err)
	}
}
