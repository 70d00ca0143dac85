package pkg

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"esmon/core/apiv1"
)

// agentMSIs builds the Windows agent twice (versions 0.0.1 and 0.0.2, so an
// upgrade can be seen) and an MSI around each with packaging/build-msi.sh.
func agentMSIs(t *testing.T) (exe1, msi1, msi2 string) {
	t.Helper()
	tools(t, "wixl", "msibuild")
	dir := t.TempDir()
	for _, v := range []string{"0.0.1", "0.0.2"} {
		vd := filepath.Join(dir, v)
		if err := os.MkdirAll(vd, 0o755); err != nil {
			t.Fatal(err)
		}
		exe := goBuild(t, vd, "esmon-agent.exe", "./agentsvc", "windows", "amd64", v)
		msi := filepath.Join(dir, "esmon-agent-"+v+".msi")
		run(t, nil, "packaging/build-msi.sh", v, exe, msi)
		if v == "0.0.1" {
			exe1, msi1 = exe, msi
		} else {
			msi2 = msi
		}
	}
	return exe1, msi1, msi2
}

// msiTable is one table of an MSI as msiinfo exports it: rows by their
// first column, each row by column name.
type msiTable map[string]map[string]string

func readTable(t *testing.T, msi, table string) msiTable {
	t.Helper()
	out := run(t, nil, "msiinfo", "export", msi, table)
	lines := strings.Split(strings.TrimRight(out, "\r\n"), "\n")
	if len(lines) < 3 {
		t.Fatalf("msiinfo export %s: no header:\n%s", table, out)
	}
	cols := strings.Split(strings.TrimRight(lines[0], "\r"), "\t")
	tab := msiTable{}
	for _, l := range lines[3:] { // names, types, table name and keys
		f := strings.Split(strings.TrimRight(l, "\r"), "\t")
		row := map[string]string{}
		for i, c := range cols {
			if i < len(f) {
				row[c] = f[i]
			}
		}
		tab[f[0]] = row
	}
	return tab
}

// TestAgentMSI checks the built MSI's tables, signs it and the agent with a
// throwaway certificate and verifies both, and installs, upgrades and
// uninstalls it under Wine's msiexec.
func TestAgentMSI(t *testing.T) {
	tools(t, "msiinfo", "osslsigncode", "openssl")
	exe1, msi1, msi2 := agentMSIs(t)

	t.Run("tables", func(t *testing.T) {
		config := `"[CommonAppDataFolder]esmon\agent.yml"`
		cases := []struct {
			name, table, row string
			want             map[string]string
		}{
			{"the agent under Program Files", "File", "AgentExeFile", map[string]string{"FileName": "esmon-agent.exe", "Component_": "AgentExe"}},
			{"its component in the install directory", "Component", "AgentExe", map[string]string{"Directory_": "INSTALLDIR"}},
			{"the install directory is Program Files\\esmon", "Directory", "INSTALLDIR", map[string]string{"Directory_Parent": "ProgramFiles64Folder", "DefaultDir": "esmon"}},
			{"the service: own process, automatic start, LocalSystem, the config under ProgramData", "ServiceInstall", "AgentService", map[string]string{
				"Name": "esmon-agent", "ServiceType": "16", "StartType": "2", "ErrorControl": "1", "StartName": "LocalSystem",
				"Arguments": "run --as-service --config " + config, "Component_": "AgentExe"}},
			// 0x2 stop on install, 0x20 stop on uninstall, 0x80 delete on uninstall.
			{"the service stopped on upgrade and uninstall, removed on uninstall", "ServiceControl", "AgentServiceRemove", map[string]string{"Name": "esmon-agent", "Event": "162", "Wait": "1"}},
			// 18 exe from an installed file, 0x400 deferred, 0x800 as SYSTEM, 0x2000 target kept out of the log.
			{"setup writes the config from JOIN_CODE and CORE_URL", "CustomAction", "AgentSetup", map[string]string{"Type": "11282", "Source": "AgentExeFile",
				"Target": "setup --config " + config + ` --join-code "[JOIN_CODE]" --core "[CORE_URL]" --start=[START_SERVICE]`}},
			// 18 exe from an installed file, 0x40 its exit code ignored, 0x400 deferred, 0x800 as SYSTEM.
			{"stop waits for the service's process to exit", "CustomAction", "AgentStop", map[string]string{"Type": "3154", "Source": "AgentExeFile", "Target": "stop"}},
			{"stop runs when the product is there: uninstall, and the old version's in an upgrade", "InstallExecuteSequence", "AgentStop", map[string]string{"Condition": "Installed"}},
			{"setup runs on install and upgrade, not on uninstall", "InstallExecuteSequence", "AgentSetup", map[string]string{"Condition": `NOT REMOVE~="ALL"`}},
			{"the service starts by default", "Property", "START_SERVICE", map[string]string{"Value": "1"}},
			{"the join code stays out of the log", "Property", "MsiHiddenProperties", map[string]string{"Value": "JOIN_CODE"}},
			{"one upgrade code for every version", "Property", "UpgradeCode", map[string]string{"Value": "{6B0D3F7E-2C4A-4E0B-9E5A-5D1B8C2F4A10}"}},
			{"the version", "Property", "ProductVersion", map[string]string{"Value": "0.0.1"}},
			{"per machine", "Property", "ALLUSERS", map[string]string{"Value": "1"}},
		}
		// The event log source: its rows have generated keys, so by name.
		eventKey := `SYSTEM\CurrentControlSet\Services\EventLog\Application\esmon-agent\`
		for name, want := range map[string]string{"EventMessageFile": "[SystemFolder]EventCreate.exe", "TypesSupported": "#7"} {
			found := false
			for _, row := range readTable(t, msi1, "Registry") {
				if row["Key"] == eventKey && row["Name"] == name {
					found = row["Value"] == want && row["Root"] == "2" && row["Component_"] == "AgentExe"
				}
			}
			if !found {
				t.Errorf("event log source: no Registry row HKLM\\%s %s = %s in the agent's component", eventKey, name, want)
			}
		}
		tables := map[string]msiTable{}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if tables[c.table] == nil {
					tables[c.table] = readTable(t, msi1, c.table)
				}
				row, ok := tables[c.table][c.row]
				if !ok {
					t.Fatalf("%s has no row %s", c.table, c.row)
				}
				for col, want := range c.want {
					if row[col] != want {
						t.Errorf("%s %s.%s = %q, want %q", c.table, c.row, col, row[col], want)
					}
				}
			})
		}

		seq := readTable(t, msi1, "InstallExecuteSequence")
		order := []struct{ before, after, why string }{
			{"RemoveExistingProducts", "InstallInitialize", "an upgrade removes the old version (and its service) first"},
			{"InstallServices", "AgentSetup", "setup finds the service registered"},
			{"AgentSetup", "StartServices", "the config exists before anything starts the service"},
			{"StopServices", "DeleteServices", "the service is stopped before it is removed"},
			{"AgentStop", "StopServices", "the service's process has exited before its exe is removed (StopServices waits only for the stopped state)"},
			{"StopServices", "RemoveFiles", "nothing runs the exe when it is removed"},
		}
		for _, o := range order {
			b, errB := strconv.Atoi(seq[o.before]["Sequence"])
			a, errA := strconv.Atoi(seq[o.after]["Sequence"])
			if errB != nil || errA != nil || b >= a {
				t.Errorf("%s (%q) must come before %s (%q): %s", o.before, seq[o.before]["Sequence"], o.after, seq[o.after]["Sequence"], o.why)
			}
		}
		p2 := readTable(t, msi2, "Property")
		p1 := readTable(t, msi1, "Property")
		if p2["UpgradeCode"]["Value"] != p1["UpgradeCode"]["Value"] || p2["ProductCode"]["Value"] == p1["ProductCode"]["Value"] {
			t.Errorf("two versions need one upgrade code and two product codes: %v %v / %v %v",
				p1["UpgradeCode"], p1["ProductCode"], p2["UpgradeCode"], p2["ProductCode"])
		}
	})

	t.Run("signature", func(t *testing.T) { testSignature(t, exe1, msi1) })
	t.Run("wine", func(t *testing.T) { testMSIUnderWine(t, msi1, msi2) })
}

// testSignature signs a copy of the agent and of the MSI with sign.sh (as
// `make sign` does) and a throwaway certificate, and checks that each
// verifies against that certificate, and that unsigned, tampered or
// differently signed files do not.
func testSignature(t *testing.T, exe, msi string) {
	dir := t.TempDir()
	cert := func(name string) (crt, key string) {
		crt, key = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
		run(t, nil, "openssl", "req", "-x509", "-newkey", "rsa:3072", "-sha256", "-days", "2", "-nodes",
			"-keyout", key, "-out", crt, "-subj", "/CN=esmon "+name, "-addext", "extendedKeyUsage=codeSigning")
		return crt, key
	}
	crt, key := cert("test signer")
	other, _ := cert("someone else")
	cp := func(src, name string) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	signedExe, signedMSI := cp(exe, "esmon-agent.exe"), cp(msi, "esmon-agent.msi")
	run(t, nil, "packaging/sign.sh", crt, key, signedExe, signedMSI)
	// Signing again replaces the signature (make sign run twice).
	run(t, nil, "packaging/sign.sh", crt, key, signedExe)

	tamperedExe := cp(signedExe, "tampered.exe")
	b, _ := os.ReadFile(tamperedExe)
	b[len(b)/2] ^= 0xff
	os.WriteFile(tamperedExe, b, 0o644)
	tamperedMSI := cp(signedMSI, "tampered.msi")
	run(t, nil, "msibuild", tamperedMSI, "-q", "UPDATE Property SET Value='0' WHERE Property='START_SERVICE'")

	cases := []struct {
		name, file, ca string
		ok             bool
	}{
		{"signed agent", signedExe, crt, true},
		{"signed MSI", signedMSI, crt, true},
		{"unsigned agent", exe, crt, false},
		{"unsigned MSI", msi, crt, false},
		{"agent changed after signing", tamperedExe, crt, false},
		{"MSI changed after signing", tamperedMSI, crt, false},
		{"signed agent, checked against another certificate", signedExe, other, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, errOut, err := try(nil, "osslsigncode", "verify", "-CAfile", c.ca, "-in", c.file)
			if ok := err == nil && strings.Contains(out, "Signature verification: ok"); ok != c.ok {
				t.Errorf("verify %s: ok %v, want %v (err %v)\n%s%s", filepath.Base(c.file), ok, c.ok, err, out, errOut)
			}
			if c.ok && (!strings.Contains(out, "esmon test signer") || !strings.Contains(out, "Number of verified signatures: 1")) {
				t.Errorf("verify %s: want one signature by esmon test signer:\n%s", filepath.Base(c.file), out)
			}
		})
	}
	// A signed MSI is still a working database.
	if p := readTable(t, signedMSI, "Property"); p["ProductName"]["Value"] != "esmon agent" {
		t.Errorf("signed MSI's ProductName = %q", p["ProductName"]["Value"])
	}
}

// wine is a fresh Wine prefix.
type wine struct {
	t      *testing.T
	wine   string
	prefix string
}

// newWine makes a Wine prefix with the bcryptprimitives.dll stand-in that a
// Go 1.26 program needs under Wine 8 (MACHINE.md), and keeps one program
// running in it until the test ends, since Wine stops its service manager,
// and the services, when the last program of a prefix exits.
func newWine(t *testing.T) *wine {
	tl := tools(t, "wine", "wineboot", "wineserver", "x86_64-w64-mingw32-gcc")
	w := &wine{t: t, wine: tl["wine"], prefix: t.TempDir()}
	dll := filepath.Join(t.TempDir(), "bcryptprimitives.dll")
	run(t, nil, tl["x86_64-w64-mingw32-gcc"], "-shared", "-O2", "-o", dll, "packaging/wine/bcryptprimitives.c", "-ladvapi32")
	if out, code := w.run(tl["wineboot"], "-i"); code != 0 {
		t.Fatalf("wineboot: exit %d\n%s", code, out)
	}
	// One service manager, not one left from the boot and a second one.
	w.run(tl["wineserver"], "-w")
	t.Cleanup(func() { w.run(tl["wineserver"], "-k") })
	b, err := os.ReadFile(dll)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.path(`C:\windows\system32\bcryptprimitives.dll`), b, 0o644); err != nil {
		t.Fatal(err)
	}

	keep := exec.Command(w.wine, "cmd")
	keep.Env = w.env()
	stdin, err := keep.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := keep.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { keep.Wait(); close(done) }()
	t.Cleanup(func() {
		stdin.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			keep.Process.Kill()
			<-done
		}
	})
	return w
}

func (w *wine) env() []string {
	return append(os.Environ(), "WINEPREFIX="+w.prefix, "WINEDEBUG=-all")
}

// path is the Linux path of a C:\ path in the prefix.
func (w *wine) path(win string) string {
	rel := strings.ReplaceAll(strings.TrimPrefix(win, `C:\`), `\`, "/")
	return filepath.Join(w.prefix, "drive_c", rel)
}

// run runs a program in the prefix and returns its output and exit code.
// The output goes through a file, not a pipe: a wineserver that the
// command starts outlives it and would hold a pipe open.
func (w *wine) run(name string, args ...string) (string, int) {
	w.t.Helper()
	f, err := os.CreateTemp(w.t.TempDir(), "out")
	if err != nil {
		w.t.Fatal(err)
	}
	defer f.Close()
	cmd := exec.Command(name, args...)
	cmd.Env = w.env()
	cmd.Stdout, cmd.Stderr = f, f
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		cmd.Process.Kill()
		err = <-done
	}
	out, _ := os.ReadFile(f.Name())
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	case err != nil:
		w.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return string(out), 0
}

// windows runs a Windows program in the prefix.
func (w *wine) windows(args ...string) (string, int) {
	w.t.Helper()
	return w.run(w.wine, args...)
}

// The service's and the event log source's registry keys.
const (
	serviceKey     = `HKLM\System\CurrentControlSet\Services\esmon-agent`
	eventSourceKey = `HKLM\System\CurrentControlSet\Services\EventLog\Application\esmon-agent`
)

// testMSIUnderWine installs the MSI silently with a join code, as an
// administrator would, upgrades it, and uninstalls it, checking after each
// step what an operator would look at: the files, the service, the config.
func testMSIUnderWine(t *testing.T, msi1, msi2 string) {
	w := newWine(t)
	for i, m := range []string{msi1, msi2} {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(w.path(`C:\esmon-agent-`+strconv.Itoa(i+1)+`.msi`), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	exe := w.path(`C:\Program Files\esmon\esmon-agent.exe`)
	config := w.path(`C:\ProgramData\esmon\agent.yml`)
	status := func(want int, wantOut string) {
		t.Helper()
		out, code := w.windows(`C:\Program Files\esmon\esmon-agent.exe`, "status")
		if code != want || !strings.Contains(out, wantOut) {
			t.Errorf("esmon-agent status: exit %d %q, want %d %q", code, out, want, wantOut)
		}
	}
	msiexec := func(args ...string) string {
		t.Helper()
		out, code := w.windows(append([]string{"msiexec"}, args...)...)
		if code != 0 {
			log, _ := os.ReadFile(w.path(`C:\msi.log`))
			t.Fatalf("msiexec %v: exit %d\n%s\nlog:\n%s", args, code, out, log)
		}
		return out
	}

	// 0. A damaged join code fails the install and leaves nothing behind.
	if out, code := w.windows("msiexec", "/i", `C:\esmon-agent-1.msi`, "/qn", "JOIN_CODE=esmon1_damaged!"); code == 0 {
		t.Errorf("install with a damaged join code succeeded:\n%s", out)
	} else if !strings.Contains(out, "join code is damaged") {
		t.Errorf("install with a damaged join code: exit %d without the reason:\n%s", code, out)
	}
	if _, err := os.Stat(exe); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed install left the agent under Program Files (%v)", err)
	}
	if reg, code := w.windows("reg", "query", serviceKey); code == 0 {
		t.Errorf("a failed install left the service registered:\n%s", reg)
	}

	// 1. A silent install with a join code from a real core, not started
	// (as for a machine image): files, service and config are in place.
	c := startCore(t)
	jc := c.joinCode(t, 1)
	joinCode := jc.Code
	out := msiexec("/i", `C:\esmon-agent-1.msi`, "/qn", `/l*v`, `C:\msi.log`,
		"JOIN_CODE="+joinCode, "CORE_URL="+c.url, "START_SERVICE=0")
	t.Logf("install: %s", out)
	if _, err := os.Stat(exe); err != nil {
		t.Fatalf("the agent is not under Program Files: %v", err)
	}
	reg, code := w.windows("reg", "query", serviceKey)
	wantImage := `C:\Program Files\esmon\esmon-agent.exe run --as-service --config "C:\ProgramData\esmon\agent.yml"`
	if code != 0 || !strings.Contains(reg, wantImage) || !regDWORD(reg, "Start", "0x2") || !strings.Contains(reg, "LocalSystem") {
		t.Errorf("service entry: exit %d, want ImagePath %s, Start 0x2 (automatic), LocalSystem:\n%s", code, wantImage, reg)
	}
	if ev, code := w.windows("reg", "query", eventSourceKey); code != 0 || !strings.Contains(ev, `EventCreate.exe`) {
		t.Errorf("event log source not registered: exit %d\n%s", code, ev)
	}
	var cfg map[string]string
	b, err := os.ReadFile(config)
	if err == nil {
		err = yaml.Unmarshal(b, &cfg)
	}
	if err != nil || cfg["join_code"] != joinCode || cfg["core"] != c.url {
		t.Errorf("config %s: %v, want join_code and core from the properties: %v\n%s", config, err, cfg, b)
	}
	status(3, "stopped")
	out, _ = w.windows(`C:\Program Files\esmon\esmon-agent.exe`, "--version")
	if !strings.Contains(out, "esmon-agent 0.0.1") {
		t.Errorf("installed agent's --version: %q, want 0.0.1", out)
	}

	// 2. The operator edits the config that setup wrote, then upgrades
	// with no properties: the config is kept as it is, the new agent is in
	// place, running, and enrolled with the join code and connected to the
	// core, which lists it on its Agents page.
	mine := append(b, "# the operator's settings\ninterval: 1s\nprocess_interval: 0\n"...)
	if err := os.WriteFile(config, mine, 0o644); err != nil {
		t.Fatal(err)
	}
	out = msiexec("/i", `C:\esmon-agent-2.msi`, "/qn", `/l*v`, `C:\msi.log`)
	t.Logf("upgrade: %s", out)
	if b, _ := os.ReadFile(config); !bytes.Equal(b, mine) {
		t.Errorf("the upgrade changed the config:\n%s", b)
	}
	out, _ = w.windows(`C:\Program Files\esmon\esmon-agent.exe`, "--version")
	if !strings.Contains(out, "esmon-agent 0.0.2") {
		t.Errorf("agent's --version after the upgrade: %q, want 0.0.2", out)
	}
	status(0, "running")
	var agent apiv1.Agent
	waitFor(t, 2*time.Minute, "the upgraded Windows agent connected on the core's Agents page", func() bool {
		for _, a := range c.agents(t) {
			if a.OS == "windows" && a.Connected && a.Version == "0.0.2" && a.JoinCodeID == jc.ID {
				agent = a
				return true
			}
		}
		return false
	})
	t.Logf("after the upgrade the core lists agent %s (%s, %s) connected from %s", agent.ID, agent.Hostname, agent.Version, agent.RemoteAddr)
	products, _ := w.windows("reg", "query", `HKLM\Software\Microsoft\Windows\CurrentVersion\Uninstall`, "/s")
	n := 0
	for _, l := range strings.Split(products, "\n") {
		if f := strings.Fields(l); len(f) > 2 && f[0] == "DisplayName" && strings.Join(f[2:], " ") == "esmon agent" {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d programs named esmon agent installed after the upgrade, want 1", n)
	}

	// 3. Uninstall: the service is stopped and gone, the program too; the
	// config and the agent's state stay for a reinstall.
	out = msiexec("/x", `C:\esmon-agent-2.msi`, "/qn", `/l*v`, `C:\msi.log`)
	t.Logf("uninstall: %s", out)
	if reg, code := w.windows("reg", "query", serviceKey); code == 0 {
		t.Errorf("the service is still registered after uninstall:\n%s", reg)
	}
	if ev, code := w.windows("reg", "query", eventSourceKey); code == 0 {
		t.Errorf("the event log source is still registered after uninstall:\n%s", ev)
	}
	if _, err := os.Stat(exe); !errors.Is(err, os.ErrNotExist) {
		log, _ := os.ReadFile(w.path(`C:\msi.log`))
		var lines []string
		for _, l := range strings.Split(string(log), "\n") {
			if strings.Contains(l, "esmon-agent.exe") || strings.Contains(l, "AgentStop") {
				lines = append(lines, l)
			}
		}
		t.Errorf("the agent is still under Program Files after uninstall: %v; the installer's log says:\n%s", err, strings.Join(lines, "\n"))
	}
	if b, _ := os.ReadFile(config); !bytes.Equal(b, mine) {
		t.Errorf("uninstall removed or changed the config: %q", b)
	}
	waitFor(t, time.Minute, "the uninstalled agent disconnected on the core's Agents page", func() bool {
		for _, a := range c.agents(t) {
			if a.ID == agent.ID {
				return !a.Connected
			}
		}
		t.Fatalf("the core no longer lists agent %s:\n%s", agent.ID, describe(c.agents(t)))
		return false
	})
}

// regDWORD reports whether reg query output sets name to the REG_DWORD v.
func regDWORD(out, name, v string) bool {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 3 && f[0] == name && f[1] == "REG_DWORD" && f[2] == v {
			return true
		}
	}
	return false
}
