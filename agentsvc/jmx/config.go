package jmx

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/core/wire"
)

// Timeouts of one JVM's queries: the default, and the bounds a config may
// set.
const (
	DefaultTimeout = 3 * time.Second
	minTimeout     = 100 * time.Millisecond
	maxTimeout     = time.Minute
)

// Target is one JVM that the agent watches, through a bridge process of its
// own. It is one entry of the jmx: list of the agent's config file.
type Target struct {
	// Name is the value of the jvm label on every sample of this JVM.
	Name string `yaml:"name"`
	// URL is the JMX service URL, such as
	// service:jmx:rmi:///jndi/rmi://host:9999/jmxrmi.
	URL string `yaml:"url"`
	// Username and Password, or PasswordFile, are the JMX credentials.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// ClassPath lists extra jars or directories for vendor connectors,
	// such as WebSphere's admin client or Liberty's REST connector.
	ClassPath []string `yaml:"class_path"`
	// Java is the java executable; by default $JAVA_HOME/bin/java, else
	// java from PATH. WebSphere's own connectors want WebSphere's JRE.
	Java string `yaml:"java"`
	// JavaOptions are extra options for the bridge's JVM, such as
	// -Djavax.net.ssl.trustStore=... . They show in process lists: never
	// put secrets there.
	JavaOptions []string `yaml:"java_options"`
	// ConnectorEnv is the JMX connector environment (for instance
	// jmx.remote.protocol.provider.pkgs for Liberty's REST connector).
	ConnectorEnv map[string]string `yaml:"connector_env"`
	// Timeout bounds one collection from this JVM (default 3s).
	Timeout time.Duration `yaml:"timeout"`
	// Defaults, true unless set to false, adds DefaultQueries.
	Defaults *bool `yaml:"defaults"`
	// Queries are read in addition to the defaults.
	Queries []Query `yaml:"queries"`
}

// String names t without its credentials, so that a target printed in a
// log or an error never shows its password.
func (t Target) String() string {
	return fmt.Sprintf("jmx target %s (%s)", t.Name, t.URL)
}

// Query reads attributes of every MBean whose name matches ObjectName.
type Query struct {
	// ObjectName is an MBean name or pattern, such as
	// java.lang:type=GarbageCollector,name=*.
	ObjectName string `yaml:"object_name" json:"object_name"`
	// Labels maps a label name to the key of the object name whose value
	// it takes, such as collector: name.
	Labels map[string]string `yaml:"labels" json:"labels,omitempty"`
	// Attributes are the values read from each MBean.
	Attributes []Attribute `yaml:"attributes" json:"attributes"`
}

// Attribute is one number read from an MBean attribute.
type Attribute struct {
	// Attribute is the attribute's name, such as HeapMemoryUsage.
	Attribute string `yaml:"attribute" json:"attribute"`
	// Key is the path to the number inside a composite value, dot
	// separated: a CompositeData key (used), a JSR-77 statistic of a
	// WebSphere PMI Stats object (PoolSize), then a getter of that
	// statistic (current, highWaterMark). Empty for a plain number.
	Key string `yaml:"key" json:"key,omitempty"`
	// Metric is the name the value is sent under.
	Metric string `yaml:"metric" json:"metric"`
	// Scale multiplies the value, to reach base units: 0.001 turns
	// milliseconds into seconds. Zero means 1.
	Scale float64 `yaml:"scale" json:"scale,omitempty"`
}

// DefaultQueries read what every JVM has: heap and non-heap memory, garbage
// collection per collector, threads, loaded classes and the process's CPU.
var DefaultQueries = []Query{
	{ObjectName: "java.lang:type=Memory", Attributes: []Attribute{
		{Attribute: "HeapMemoryUsage", Key: "used", Metric: wire.JVMHeapUsedBytes},
		{Attribute: "HeapMemoryUsage", Key: "committed", Metric: wire.JVMHeapCommittedBytes},
		{Attribute: "HeapMemoryUsage", Key: "max", Metric: wire.JVMHeapMaxBytes},
		{Attribute: "NonHeapMemoryUsage", Key: "used", Metric: wire.JVMNonHeapUsedBytes},
		{Attribute: "NonHeapMemoryUsage", Key: "committed", Metric: wire.JVMNonHeapCommittedBytes},
		{Attribute: "NonHeapMemoryUsage", Key: "max", Metric: wire.JVMNonHeapMaxBytes},
	}},
	{ObjectName: "java.lang:type=GarbageCollector,name=*", Labels: map[string]string{wire.LabelCollector: "name"}, Attributes: []Attribute{
		{Attribute: "CollectionCount", Metric: wire.JVMGCCollectionsTotal},
		{Attribute: "CollectionTime", Metric: wire.JVMGCTimeSecondsTotal, Scale: 0.001},
	}},
	{ObjectName: "java.lang:type=Threading", Attributes: []Attribute{
		{Attribute: "ThreadCount", Metric: wire.JVMThreads},
		{Attribute: "DaemonThreadCount", Metric: wire.JVMThreadsDaemon},
		{Attribute: "PeakThreadCount", Metric: wire.JVMThreadsPeak},
	}},
	{ObjectName: "java.lang:type=ClassLoading", Attributes: []Attribute{
		{Attribute: "LoadedClassCount", Metric: wire.JVMClassesLoaded},
	}},
	{ObjectName: "java.lang:type=OperatingSystem", Attributes: []Attribute{
		{Attribute: "ProcessCpuLoad", Metric: wire.JVMProcessCPUPercent, Scale: 100},
	}},
}

// ParseConfig reads the jmx: section of the agent's config file: a list of
// targets. Unknown keys are errors, so a typo does not silently drop a
// setting. Password files are read here, so a missing one stops the agent
// at start rather than at the first collection.
func ParseConfig(node *yaml.Node) ([]Target, error) {
	if node == nil || node.Kind == 0 {
		return nil, nil
	}
	// yaml.Node.Decode cannot refuse unknown fields; a decoder can.
	b, err := yaml.Marshal(node)
	if err != nil {
		return nil, fmt.Errorf("jmx: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var ts []Target
	if err := dec.Decode(&ts); err != nil {
		return nil, fmt.Errorf("jmx: %w", err)
	}
	seen := map[string]bool{}
	for i := range ts {
		t := &ts[i]
		if err := t.check(); err != nil {
			if t.Name != "" {
				return nil, fmt.Errorf("jmx %s: %w", t.Name, err)
			}
			return nil, fmt.Errorf("jmx entry %d: %w", i+1, err)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("jmx: name %q is used twice", t.Name)
		}
		seen[t.Name] = true
	}
	return ts, nil
}

// check validates t, fills in defaults and reads its password file.
func (t *Target) check() error {
	t.Name = strings.TrimSpace(t.Name)
	switch {
	case t.Name == "":
		return errors.New("name is required (it becomes the jvm label)")
	case len(t.Name) > wire.MaxLabelValueLen:
		return errors.New("name is too long")
	case !strings.HasPrefix(t.URL, "service:jmx:"):
		return fmt.Errorf("url %q: want a JMX service URL such as service:jmx:rmi:///jndi/rmi://host:9999/jmxrmi", t.URL)
	case t.Password != "" && t.PasswordFile != "":
		return errors.New("password and password_file are both set: keep one")
	case (t.Password != "" || t.PasswordFile != "") && t.Username == "":
		return errors.New("a password without a username")
	}
	if t.PasswordFile != "" {
		b, err := os.ReadFile(t.PasswordFile)
		if err != nil {
			return fmt.Errorf("read password file: %w", err)
		}
		t.Password = strings.TrimRight(string(b), "\r\n")
		if t.Password == "" {
			return fmt.Errorf("password file %s is empty", t.PasswordFile)
		}
	}
	if t.Timeout == 0 {
		t.Timeout = DefaultTimeout
	}
	if t.Timeout < minTimeout || t.Timeout > maxTimeout {
		return fmt.Errorf("timeout %s: want between %s and %s", t.Timeout, minTimeout, maxTimeout)
	}
	for _, o := range t.JavaOptions {
		if !strings.HasPrefix(o, "-") {
			return fmt.Errorf("java option %q: want an option starting with -", o)
		}
	}
	if len(t.queries()) == 0 {
		return errors.New("no queries: defaults is false and queries is empty")
	}
	for i, q := range t.Queries {
		if err := q.check(); err != nil {
			return fmt.Errorf("query %d (%s): %w", i+1, q.ObjectName, err)
		}
	}
	return nil
}

func (q Query) check() error {
	if strings.TrimSpace(q.ObjectName) == "" || !strings.Contains(q.ObjectName, ":") {
		return errors.New("object_name: want domain:key=value,... such as java.lang:type=Memory")
	}
	if len(q.Labels) > wire.MaxLabels-1 {
		return fmt.Errorf("%d labels, limit %d", len(q.Labels), wire.MaxLabels-1)
	}
	for name, key := range q.Labels {
		if !wire.ValidName(name) || name == "host" || name == wire.LabelJVM {
			return fmt.Errorf("label %q: want a name like pool_name, other than host and jvm", name)
		}
		if key == "" {
			return fmt.Errorf("label %s: name the object name key it takes", name)
		}
	}
	if len(q.Attributes) == 0 {
		return errors.New("no attributes")
	}
	for _, a := range q.Attributes {
		if a.Attribute == "" {
			return errors.New("an attribute without its name")
		}
		if !wire.ValidName(a.Metric) {
			return fmt.Errorf("attribute %s: metric %q: want a name like jvm_threads", a.Attribute, a.Metric)
		}
	}
	return nil
}

// queries returns what the bridge reads for t: the defaults, unless turned
// off, then t's own.
func (t *Target) queries() []Query {
	var qs []Query
	if t.Defaults == nil || *t.Defaults {
		qs = append(qs, DefaultQueries...)
	}
	return append(qs, t.Queries...)
}
