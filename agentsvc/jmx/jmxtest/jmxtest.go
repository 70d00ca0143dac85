// Package jmxtest starts real JVMs with remote JMX on loopback for tests of
// the JMX bridge and of the agents that use it, so each test reads a real
// JVM and none repeats how to start one.
package jmxtest

import (
	"bufio"
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"esmon/internal/testenv"
)

// JVM is a running JVM with remote JMX on loopback.
type JVM struct {
	// Port serves both the RMI registry and the RMI server.
	Port int
	// URL is the JMX service URL of the JVM, as the agent's jmx: config
	// takes it.
	URL string
}

// RemoteOptions are the JVM options that serve remote JMX on port of
// 127.0.0.1 alone, the RMI registry and server on that one port, without
// TLS; whether a password is asked is left to the caller.
func RemoteOptions(port int) []string {
	return []string{
		fmt.Sprintf("-Dcom.sun.management.jmxremote.port=%d", port),
		fmt.Sprintf("-Dcom.sun.management.jmxremote.rmi.port=%d", port),
		"-Dcom.sun.management.jmxremote.host=127.0.0.1",
		"-Djava.rmi.server.hostname=127.0.0.1",
		"-Dcom.sun.management.jmxremote.ssl=false",
	}
}

// Start runs java with remote JMX on a free loopback port (registry and
// server on that one port, no TLS, no password) and program: JVM options,
// then a main class with its class path or a single source file. The
// program must print a line starting with "ready" once it is up and run
// until its standard input closes; Start waits for that line and stops the
// JVM when the test ends. A missing java fails or skips the test as
// testenv.LookPath does.
func Start(t testing.TB, program ...string) JVM {
	t.Helper()
	java := testenv.LookPath(t, "java")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	args := append(RemoteOptions(port), "-Dcom.sun.management.jmxremote.authenticate=false",
		// Quicker to start on a busy machine.
		"-Xmx64m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")
	args = append(args, program...)
	cmd := exec.Command(java, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errOut := &testenv.Buffer{}
	cmd.Stderr = errOut
	if err := cmd.Start(); err != nil {
		t.Fatalf("start java: %v", err)
	}
	ready := make(chan bool, 1)
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		ok := false
		for sc.Scan() {
			if !ok && strings.HasPrefix(sc.Text(), "ready") {
				ok = true
				ready <- true
			}
		}
		if !ok {
			ready <- false
		}
		cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case ok := <-ready:
		if !ok {
			t.Fatalf("the JVM ended before it was ready:\n%s", errOut.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("the JVM did not say ready:\n%s", errOut.String())
	}
	return JVM{Port: port, URL: fmt.Sprintf("service:jmx:rmi:///jndi/rmi://127.0.0.1:%d/jmxrmi", port)}
}

//go:embed Idle.java
var idleSource []byte

// IdleThreads is how many threads Idle runs besides main.
const IdleThreads = 2

// StartIdle runs Idle (Idle.java beside this file), a JVM that does
// nothing but hold IdleThreads idle threads and a little heap, with remote
// JMX as Start gives it.
func StartIdle(t testing.TB) JVM {
	t.Helper()
	src := filepath.Join(t.TempDir(), "Idle.java")
	if err := os.WriteFile(src, idleSource, 0o644); err != nil {
		t.Fatal(err)
	}
	return Start(t, src)
}
