package jmx

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/core/wire"
)

// parse reads doc as an agent config file and parses its jmx: section.
func parse(t *testing.T, doc string) ([]Target, error) {
	t.Helper()
	var file struct {
		JMX yaml.Node `yaml:"jmx"`
	}
	if err := yaml.Unmarshal([]byte(doc), &file); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	return ParseConfig(&file.JMX)
}

func TestParseConfig(t *testing.T) {
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("s3cret\n"), 0o600)
	empty := filepath.Join(t.TempDir(), "empty")
	os.WriteFile(empty, nil, 0o600)
	url := "url: service:jmx:rmi:///jndi/rmi://h:1/jmxrmi"

	for _, tt := range []struct {
		name string
		doc  string
		err  string // empty: valid
	}{
		{"no section", "core: x\n", ""},
		{"minimal", "jmx:\n  - name: a\n    " + url, ""},
		{"full", `jmx:
  - name: a
    ` + url + `
    username: u
    password_file: ` + pass + `
    class_path: [/x.jar]
    java: /opt/java
    java_options: [-Dx=y]
    connector_env: {k: v}
    timeout: 2s
    defaults: false
    queries:
      - object_name: "d:type=T,*"
        labels: {pool: name}
        attributes: [{attribute: A, key: k.current, metric: m_total, scale: 0.5}]`, ""},
		{"unknown key", "jmx:\n  - name: a\n    " + url + "\n    pasword: x", "field pasword not found"},
		{"unknown query key", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x', attribute: [{}]}]", "field attribute not found"},
		{"not a list", "jmx: {name: a}", "cannot unmarshal"},
		{"no name", "jmx:\n  - " + url, "jmx entry 1: name is required"},
		{"twice", "jmx:\n  - name: a\n    " + url + "\n  - name: a\n    " + url, `name "a" is used twice`},
		{"bad url", "jmx:\n  - name: a\n    url: rmi://h:1", "want a JMX service URL"},
		{"both passwords", "jmx:\n  - name: a\n    " + url + "\n    username: u\n    password: p\n    password_file: " + pass, "keep one"},
		{"password without user", "jmx:\n  - name: a\n    " + url + "\n    password: p", "without a username"},
		{"missing password file", "jmx:\n  - name: a\n    " + url + "\n    username: u\n    password_file: /nonexistent/p", "read password file"},
		{"empty password file", "jmx:\n  - name: a\n    " + url + "\n    username: u\n    password_file: " + empty, "is empty"},
		{"timeout too short", "jmx:\n  - name: a\n    " + url + "\n    timeout: 10ms", "timeout 10ms"},
		{"timeout not a duration", "jmx:\n  - name: a\n    " + url + "\n    timeout: soon", "cannot unmarshal"},
		{"java option", "jmx:\n  - name: a\n    " + url + "\n    java_options: [Xmx1g]", "java option"},
		{"nothing to read", "jmx:\n  - name: a\n    " + url + "\n    defaults: false", "no queries"},
		{"bad object name", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: nocolon, attributes: [{attribute: A, metric: m}]}]", "object_name"},
		{"no attributes", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x'}]", "no attributes"},
		{"bad metric", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x', attributes: [{attribute: A, metric: 'a-b'}]}]", `metric "a-b"`},
		{"no attribute name", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x', attributes: [{metric: m}]}]", "without its name"},
		{"reserved label", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x', labels: {jvm: name}, attributes: [{attribute: A, metric: m}]}]", `label "jvm"`},
		{"bad label", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x', labels: {'a b': name}, attributes: [{attribute: A, metric: m}]}]", `label "a b"`},
		{"label without key", "jmx:\n  - name: a\n    " + url + "\n    queries: [{object_name: 'd:t=x', labels: {pool: ''}, attributes: [{attribute: A, metric: m}]}]", "label pool"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := parse(t, tt.doc)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("error = %v, want one containing %q (targets %+v)", err, tt.err, ts)
			}
		})
	}
}

func TestParseConfigDefaults(t *testing.T) {
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("s3cret\r\n"), 0o600)
	ts, err := parse(t, `jmx:
  - name: " app "
    url: service:jmx:rmi:///jndi/rmi://h:1/jmxrmi
    username: u
    password_file: `+pass+`
    queries:
      - object_name: "d:type=T"
        attributes: [{attribute: A, metric: m}]
`)
	if err != nil {
		t.Fatal(err)
	}
	got := ts[0]
	if got.Name != "app" || got.Password != "s3cret" || got.Timeout != DefaultTimeout {
		t.Errorf("target = %+v", got)
	}
	if s := fmt.Sprintf("%v %+v %s", got, got, got); strings.Contains(s, "s3cret") {
		t.Errorf("a printed target shows its password: %s", s)
	}
	qs := got.queries()
	if len(qs) != len(DefaultQueries)+1 || qs[len(qs)-1].ObjectName != "d:type=T" {
		t.Errorf("queries = %+v", qs)
	}
	// The default set reads what the issue asks for, under wire's names.
	metrics := map[string]bool{}
	for _, q := range DefaultQueries {
		if err := q.check(); err != nil {
			t.Errorf("default query %s: %v", q.ObjectName, err)
		}
		for _, a := range q.Attributes {
			metrics[a.Metric] = true
		}
	}
	for _, m := range []string{wire.JVMHeapUsedBytes, wire.JVMHeapCommittedBytes, wire.JVMHeapMaxBytes,
		wire.JVMNonHeapUsedBytes, wire.JVMNonHeapCommittedBytes, wire.JVMNonHeapMaxBytes,
		wire.JVMGCCollectionsTotal, wire.JVMGCTimeSecondsTotal, wire.JVMThreads, wire.JVMThreadsDaemon,
		wire.JVMThreadsPeak, wire.JVMClassesLoaded, wire.JVMProcessCPUPercent} {
		if !metrics[m] {
			t.Errorf("default set lacks %s", m)
		}
	}
}

// TestREADMEExamples parses every YAML example of README.md, so the
// documented templates stay valid configs.
func TestREADMEExamples(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	os.WriteFile(pass, []byte("x\n"), 0o600)
	blocks := regexp.MustCompile("(?s)```yaml\n(.*?)```").FindAllStringSubmatch(string(b), -1)
	if len(blocks) < 3 {
		t.Fatalf("%d YAML examples in README.md, want the generic, WebSphere and Liberty ones", len(blocks))
	}
	files := regexp.MustCompile(`password_file: \S+`)
	for i, m := range blocks {
		doc := files.ReplaceAllString(m[1], "password_file: "+pass)
		ts, err := parse(t, doc)
		if err != nil || len(ts) == 0 {
			t.Errorf("example %d: %v\n%s", i+1, err, m[1])
			continue
		}
		for _, tg := range ts {
			if tg.Timeout < time.Second {
				t.Errorf("example %d: timeout %s", i+1, tg.Timeout)
			}
		}
	}
}
