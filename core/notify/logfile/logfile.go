// Package logfile is the log file notification channel: each alert
// transition as one JSON line, in a file that is rotated by size, for
// operators who feed alerts to a log shipper or read them with tail.
package logfile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"esmon/core/apiv1"
	"esmon/core/notify"
)

// Defaults for rotation.
const (
	DefaultMaxSizeMB = 10
	DefaultMaxFiles  = 5
)

// Config is the log file channel.
type Config struct {
	// Name names the channel in routes and the API. Default "logfile".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Path is the file written; rotated files are Path.1 (newest) to
	// Path.MaxFiles.
	Path string `yaml:"path" json:"path"`
	// MaxSizeMB rotates the file before it would grow past this. Default 10.
	MaxSizeMB int `yaml:"max_size_mb,omitempty" json:"max_size_mb,omitempty"`
	// MaxFiles is how many rotated files are kept. Default 5.
	MaxFiles int `yaml:"max_files,omitempty" json:"max_files,omitempty"`
	// MinSeverity is the least severity written; "" writes every one.
	MinSeverity string `yaml:"min_severity,omitempty" json:"min_severity,omitempty"`
}

// Validate reports every problem with c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, errors.New("path: required"))
	}
	if c.MaxSizeMB < 0 {
		errs = append(errs, errors.New("max_size_mb: must not be negative"))
	}
	if c.MaxFiles < 0 {
		errs = append(errs, errors.New("max_files: must not be negative"))
	}
	if c.MinSeverity != "" && apiv1.SeverityRank(c.MinSeverity) == 0 {
		errs = append(errs, fmt.Errorf("min_severity: %q is not one of %v", c.MinSeverity, apiv1.Severities))
	}
	return errors.Join(errs...)
}

// Channel appends JSON lines to the file. It is safe for concurrent use.
type Channel struct {
	cfg     Config
	maxSize int64

	mu   sync.Mutex // guards f and size
	f    *os.File
	size int64
}

var _ notify.Notifier = (*Channel)(nil)

// New checks cfg and creates the file's directory; the file is opened on
// the first write.
func New(cfg Config) (*Channel, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("logfile config: %w", err)
	}
	if cfg.Name == "" {
		cfg.Name = "logfile"
	}
	if cfg.MaxSizeMB == 0 {
		cfg.MaxSizeMB = DefaultMaxSizeMB
	}
	if cfg.MaxFiles == 0 {
		cfg.MaxFiles = DefaultMaxFiles
	}
	if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
		return nil, fmt.Errorf("logfile: %w", err)
	}
	return &Channel{cfg: cfg, maxSize: int64(cfg.MaxSizeMB) << 20}, nil
}

// Name returns the channel's name.
func (c *Channel) Name() string { return c.cfg.Name }

// MinSeverity returns the least severity routed here.
func (c *Channel) MinSeverity() string { return c.cfg.MinSeverity }

// Notify writes one line per transition. A write error is retried (a full
// disk may be cleaned up); lines written before it are reported as
// delivered.
func (c *Channel) Notify(_ context.Context, ts ...apiv1.Transition) (retry bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, t := range ts {
		b, err := json.Marshal(t)
		if err != nil {
			return false, &notify.PartialError{Delivered: i, Err: fmt.Errorf("logfile: encode: %w", err)}
		}
		b = append(b, '\n')
		if err := c.write(b); err != nil {
			return true, &notify.PartialError{Delivered: i, Err: fmt.Errorf("logfile: %w", err)}
		}
	}
	return false, nil
}

// Close closes the file; a later Notify opens it again.
func (c *Channel) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.f == nil {
		return nil
	}
	err := c.f.Close()
	c.f = nil
	return err
}

// write appends b, rotating first when b would take the file past its
// size. The caller holds mu.
func (c *Channel) write(b []byte) error {
	if c.f == nil {
		if err := c.open(); err != nil {
			return err
		}
	}
	if c.size > 0 && c.size+int64(len(b)) > c.maxSize {
		if err := c.rotate(); err != nil {
			return err
		}
	}
	n, err := c.f.Write(b)
	c.size += int64(n)
	return err
}

func (c *Channel) open() error {
	f, err := os.OpenFile(c.cfg.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	c.f, c.size = f, fi.Size()
	return nil
}

// rotate shifts Path.N to Path.N+1 (dropping the oldest), Path to Path.1,
// and opens a fresh Path.
func (c *Channel) rotate() error {
	if err := c.f.Close(); err != nil {
		return err
	}
	c.f = nil
	p := c.cfg.Path
	os.Remove(fmt.Sprintf("%s.%d", p, c.cfg.MaxFiles))
	for i := c.cfg.MaxFiles - 1; i >= 1; i-- {
		if err := os.Rename(fmt.Sprintf("%s.%d", p, i), fmt.Sprintf("%s.%d", p, i+1)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if err := os.Rename(p, p+".1"); err != nil {
		return err
	}
	return c.open()
}
