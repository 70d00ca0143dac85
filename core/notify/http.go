package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// maxErrorBody bounds how much of a refusal's body is quoted in the error.
const maxErrorBody = 512

// PostJSON posts body to url with the given headers and sorts the answer
// the way every HTTP channel needs: a 2xx is success; a 429 or 503 is a
// temporary refusal, a *RetryAfterError when the far end said how long to
// wait; a 408 or any other 5xx, a timeout or a broken connection is worth a
// retry; any other 4xx (a bad URL, a revoked webhook, a card the far end
// does not accept) needs a person and is not retried.
func PostJSON(ctx context.Context, client *http.Client, url string, body []byte, header http.Header) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		// An untrusted certificate needs a person; any other failure to
		// get an answer (refused, reset, timed out) may pass.
		var verr *tls.CertificateVerificationError
		return !errors.As(err, &verr), fmt.Errorf("post: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("post: %s: %s", resp.Status, bytes.TrimSpace(msg))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return true, &RetryAfterError{After: d, Err: err}
		}
		return true, err
	case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode >= 500:
		return true, err
	}
	return false, err
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}
