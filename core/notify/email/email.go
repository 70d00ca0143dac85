// Package email is the email notification channel: one mail per alert
// transition, text and HTML, sent through an SMTP server with go-mail.
package email

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"syscall"
	"time"

	mail "github.com/wneessen/go-mail"

	"esmon/core/apiv1"
	"esmon/core/notify"
)

// Name is the channel's default name in routes, logs and metrics.
const Name = "email"

// Channel sends alert transitions as mail. It is safe for concurrent use.
type Channel struct {
	cfg  Config
	opts []mail.Option
}

var _ notify.Notifier = (*Channel)(nil)

// New checks cfg, fills in its defaults and loads its CA file. It does not
// connect: a server that is down now is a retry later, not a startup error.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("email config: %w", err)
	}
	cfg = cfg.WithDefaults()

	tlsConf := &tls.Config{
		ServerName:         cfg.Host,
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: cfg.InsecureSkipVerify, //nolint:gosec // documented as tests only
	}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("email config: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("email config: ca_file: no PEM certificate in %s", cfg.CAFile)
		}
		tlsConf.RootCAs = pool
	}

	opts := []mail.Option{
		mail.WithPort(cfg.Port),
		mail.WithTimeout(time.Duration(cfg.Timeout)),
		mail.WithTLSConfig(tlsConf),
	}
	switch cfg.Security {
	case SecurityPlain:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case SecuritySTARTTLS:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case SecurityTLS:
		opts = append(opts, mail.WithSSL())
	}
	if cfg.Username != "" {
		// Over TLS, auto-discovery picks the strongest mechanism the server
		// offers, PLAIN and LOGIN included.
		opts = append(opts,
			mail.WithSMTPAuth(mail.SMTPAuthAutoDiscover),
			mail.WithUsername(cfg.Username),
			mail.WithPassword(cfg.Password))
	}
	return &Channel{cfg: cfg, opts: opts}, nil
}

// Name returns the channel's name, "email" unless configured.
func (c *Channel) Name() string { return c.cfg.Name }

// MinSeverity returns the least severity routed here.
func (c *Channel) MinSeverity() string { return c.cfg.MinSeverity }

// Config returns the channel's configuration with defaults filled in.
func (c *Channel) Config() Config { return c.cfg }

// Notify sends one mail per transition, in order, over one connection, or
// one mail that lists them all when there are more than GroupAbove. A
// failure part way through returns a *notify.PartialError so that the mails
// already accepted are not sent again. retry is true for network trouble
// and 4xx replies, false for 5xx replies, TLS trust failures and anything
// else that needs a person to fix.
func (c *Channel) Notify(ctx context.Context, ts ...apiv1.Transition) (retry bool, err error) {
	if len(ts) == 0 {
		return false, nil
	}
	var msgs []*mail.Msg
	if c.cfg.GroupAbove > 0 && len(ts) > c.cfg.GroupAbove {
		m, err := c.digest(ts)
		if err != nil {
			return false, fmt.Errorf("email: compose: %w", err)
		}
		msgs = []*mail.Msg{m}
	} else {
		msgs = make([]*mail.Msg, len(ts))
		for i, t := range ts {
			m, err := c.message(t)
			if err != nil {
				return false, fmt.Errorf("email: compose: %w", err)
			}
			msgs[i] = m
		}
	}

	client, err := mail.NewClient(c.cfg.Host, c.opts...)
	if err != nil {
		return false, fmt.Errorf("email: %w", err)
	}
	addr := net.JoinHostPort(c.cfg.Host, fmt.Sprint(c.cfg.Port))
	sc, err := client.DialToSMTPClientWithContext(ctx)
	if err != nil {
		return Retryable(err), fmt.Errorf("email: connect to %s: %w", addr, err)
	}
	defer func() {
		// The mails are accepted before QUIT; a failed QUIT loses nothing.
		_ = client.CloseWithSMTPClient(sc)
	}()
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			return true, &notify.PartialError{Delivered: i, Err: fmt.Errorf("email: %w", err)}
		}
		if err := client.SendWithSMTPClient(sc, m); err != nil {
			// A digest is all or nothing: Delivered 0.
			return Retryable(err), &notify.PartialError{Delivered: i * len(ts) / len(msgs), Err: fmt.Errorf("email: send to %s: %w", addr, err)}
		}
	}
	return false, nil
}

// Retryable reports whether a delivery that failed with err may succeed if
// tried again later: a network failure or a 4xx (temporary) SMTP reply.
// A 5xx reply, an untrusted certificate, a server without STARTTLS or
// AUTH, a bad address: those need a person.
func Retryable(err error) bool {
	if err == nil {
		return false
	}
	var (
		verifyErr   *tls.CertificateVerificationError
		unknownCA   x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		invalidErr  x509.CertificateInvalidError
	)
	if errors.As(err, &verifyErr) || errors.As(err, &unknownCA) || errors.As(err, &hostnameErr) || errors.As(err, &invalidErr) {
		return false
	}
	if tpErr := (*textproto.Error)(nil); errors.As(err, &tpErr) {
		return tpErr.Code >= 400 && tpErr.Code < 500
	}
	if sendErr := (*mail.SendError)(nil); errors.As(err, &sendErr) {
		if code := sendErr.ErrorCode(); code != 0 {
			return code >= 400 && code < 500
		}
		switch sendErr.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return false
		}
		// No SMTP reply code: the connection broke under the send.
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}
