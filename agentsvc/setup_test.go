package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"esmon/core/wire"
)

// TestSetupWritesConfigOnce runs `esmon-agent setup` as the MSI does: the
// config is written from the join code and core URL on a first install,
// kept as it is on an upgrade, and not made at all from nothing.
func TestSetupWritesConfigOnce(t *testing.T) {
	code := wire.JoinCode{URL: "http://esmon.example.com:8470", Secret: "s3cret", Expires: 4102444800}.String()
	cases := []struct {
		name     string
		existing string // config already there; "" for none
		args     []string
		want     map[string]string // the file's settings afterwards; nil for no file
		wantOut  string
	}{
		{name: "first install with a join code and core URL",
			args:    []string{"--join-code", code, "--core", "https://esmon.example.com:8470"},
			want:    map[string]string{"join_code": code, "core": "https://esmon.example.com:8470"},
			wantOut: "wrote"},
		{name: "first install with a join code only",
			args:    []string{"--join-code", code, "--core", ""},
			want:    map[string]string{"join_code": code},
			wantOut: "wrote"},
		{name: "a core URL YAML would misread is quoted",
			args:    []string{"--core", " https://h:1/#a: b "},
			want:    map[string]string{"core": "https://h:1/#a: b"},
			wantOut: "wrote"},
		{name: "upgrade keeps the operator's file",
			existing: "core: https://old:8470\ninterval: 10s\n",
			args:     []string{"--join-code", "esmon1_new"},
			want:     map[string]string{"core": "https://old:8470", "interval": "10s"},
			wantOut:  "kept"},
		{name: "nothing given, nothing written",
			args:    []string{"--join-code", "", "--core", ""},
			wantOut: "not written"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "esmon", "agent.yml")
			if c.existing != "" {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(c.existing), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var stdout, stderr bytes.Buffer
			if code := run(append([]string{"setup", "--config", path}, c.args...), &stdout, &stderr); code != exitOK {
				t.Fatalf("exit %d: %s%s", code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), c.wantOut) {
				t.Errorf("output %q, want %q", stdout.String(), c.wantOut)
			}
			b, err := os.ReadFile(path)
			if c.want == nil {
				if err == nil {
					t.Errorf("wrote %s:\n%s", path, b)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.existing != "" && string(b) != c.existing {
				t.Errorf("changed the existing file:\n%s", b)
			}
			got := map[string]string{}
			if err := yaml.Unmarshal(b, &got); err != nil {
				t.Fatalf("not YAML: %v\n%s", err, b)
			}
			if len(got) != len(c.want) {
				t.Errorf("settings %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if fi, err := os.Stat(path); c.existing == "" && runtime.GOOS != "windows" && (err != nil || fi.Mode().Perm() != 0o600) {
				t.Errorf("written file's mode %v (%v), want 0600: it holds the join code", fi.Mode(), err)
			}
		})
	}
}

// TestSetupRefuses: bad input fails the install with a clear reason, and
// writes nothing.
func TestSetupRefuses(t *testing.T) {
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no config file", []string{"--join-code", "x"}, exitUsage, "--config FILE is required"},
		{"a damaged join code", []string{"--join-code", "esmon1_notbase64!"}, exitFailed, "join code is damaged"},
		{"not a join code", []string{"--join-code", "hello"}, exitFailed, "join code must start with"},
		{"a core URL of another kind", []string{"--core", "ftp://h"}, exitFailed, "ftp"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "agent.yml")
			args := append([]string{"setup"}, c.args...)
			if c.wantCode != exitUsage {
				args = append(args, "--config", path)
			}
			var stdout, stderr bytes.Buffer
			if code := run(args, &stdout, &stderr); code != c.wantCode || !strings.Contains(stderr.String(), c.wantErr) {
				t.Errorf("exit %d, %q; want %d and %q", code, stderr.String(), c.wantCode, c.wantErr)
			}
			if _, err := os.Stat(path); err == nil {
				t.Errorf("wrote %s after refusing", path)
			}
		})
	}
}
