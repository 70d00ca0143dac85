package api_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestBodyLimit: a request body over the limit gets 413 and the connection
// is closed after it, so a client cannot keep streaming a huge body into
// the core; a body within the limit is served on a connection that stays
// open.
func TestBodyLimit(t *testing.T) {
	f := newServer(t)
	huge := `{"name":"` + strings.Repeat("x", 1<<20+10<<10) + `"}`
	tests := []struct {
		name      string
		method    string
		path      string
		body      string
		wantCode  int
		wantClose bool
	}{
		{"rule just over 1 MiB", "POST", "/api/v1/rules", huge, http.StatusRequestEntityTooLarge, true},
		{"sign-in just over 1 MiB", "POST", "/api/v1/session", huge, http.StatusRequestEntityTooLarge, true},
		{"rule update just over 1 MiB", "PUT", "/api/v1/rules/cpu", huge, http.StatusRequestEntityTooLarge, true},
		{"small rule", "POST", "/api/v1/rules", `{"name":"mem","metric":"memory_used_percent","threshold":90,"severity":"warning"}`, http.StatusCreated, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", f.srv.Listener.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			head := fmt.Sprintf("%s %s HTTP/1.1\r\nHost: core\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
				tc.method, tc.path, adminToken, len(tc.body))
			// The core may stop reading mid-body: write from the side.
			go io.Copy(conn, io.MultiReader(strings.NewReader(head), strings.NewReader(tc.body)))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("read answer: %v", err)
			}
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, b, tc.wantCode)
			}
			if resp.Close != tc.wantClose {
				t.Errorf("connection close = %v, want %v", resp.Close, tc.wantClose)
			}
			if tc.wantCode == http.StatusRequestEntityTooLarge && !bytes.Contains(b, []byte("too_large")) {
				t.Errorf("body %s does not say too_large", b)
			}
			if tc.wantClose {
				if _, err := br.ReadByte(); err == nil {
					t.Error("the core kept the connection open after 413")
				}
			}
		})
	}
}
