package pkg

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"esmon/internal/testenv"
)

// linuxPackage is one of the two deb/rpm packages and what installing it
// must leave on the machine.
type linuxPackage struct {
	kind    string // build-linux-pkg.sh's name for it
	name    string // the package's name
	mainPkg string
	tags    []string
	bin     string // where the package puts the program
	user    string
	unit    string
	config  string
	state   string
	// purgeState: dpkg --purge deletes the state directory (the agent's
	// credential and spool); the core's data outlives a purge.
	purgeState bool
}

var linuxPackages = []linuxPackage{
	{kind: "agent", name: "esmon-agent", mainPkg: "./agentsvc", bin: "/usr/bin/esmon-agent", user: "esmon-agent",
		unit: "esmon-agent.service", config: "/etc/esmon/agent.yml", state: "/var/lib/esmon-agent", purgeState: true},
	{kind: "core", name: "esmon-core", mainPkg: "./app", tags: []string{"headless"}, bin: "/usr/bin/esmon", user: "esmon",
		unit: "esmon.service", config: "/etc/esmon/esmon.yml", state: "/var/lib/esmon"},
}

// TestLinuxPackages builds the deb and rpm of the agent and of the headless
// core with nfpm, checks the rpm's contents, then installs each deb with
// dpkg, checks its user, files and systemd unit, upgrades it over an edited
// config, and purges it.
func TestLinuxPackages(t *testing.T) {
	tl := tools(t, "dpkg", "dpkg-query", "rpm", "systemd-analyze", "runuser", "getent")
	nf := nfpm(t)
	for _, p := range linuxPackages {
		t.Run(p.name, func(t *testing.T) {
			dir := t.TempDir()
			// One program in both versions of the package: linking it
			// twice would only cost time.
			bin := goBuild(t, dir, p.name+"-bin", p.mainPkg, "linux", runtime.GOARCH, "0.0.1", p.tags...)
			build := func(format, bin, version string) string {
				out := run(t, []string{"NFPM=" + nf}, "packaging/build-linux-pkg.sh", p.kind, runtime.GOARCH, format, bin, version, dir)
				return strings.TrimSpace(out)
			}
			deb1, deb2 := build("deb", bin, "0.0.1"), build("deb", bin, "0.0.2")
			rpm := build("rpm", bin, "0.0.1")

			t.Run("rpm", func(t *testing.T) {
				cases := []struct{ name, query, want string }{
					{"the program", "-qpl", p.bin},
					{"the unit", "-qpl", "/usr/lib/systemd/system/" + p.unit},
					{"the config, kept on upgrade", "--configfiles", p.config},
					{"the user made on install", "--scripts", `useradd --system`},
					{"the unit enabled on install", "--scripts", `systemctl enable "$unit"`},
				}
				for _, c := range cases {
					out := run(t, nil, tl["rpm"], "-qp", c.query, rpm)
					if !strings.Contains(out, c.want) {
						t.Errorf("%s: rpm -qp %s lacks %q:\n%s", c.name, c.query, c.want, out)
					}
				}
				info := run(t, nil, tl["rpm"], "-qp", "--queryformat", "%{NAME} %{VERSION} %{RELEASE}", rpm)
				if info != p.name+" 0.0.1 1" {
					t.Errorf("rpm name, version, release: %q", info)
				}
			})

			t.Run("deb", func(t *testing.T) {
				if os.Geteuid() != 0 {
					testenv.Missing(t, "root, to install a deb with dpkg")
				}
				if st, _, _ := try(nil, tl["dpkg-query"], "-W", "-f", "${db:Status-Status}", p.name); st == "installed" {
					t.Skipf("%s is installed on this machine: the test does not touch a real installation", p.name)
				}
				_, userErr := user.Lookup(p.user)
				_, stateErr := os.Stat(p.state)
				dpkg := func(args ...string) string {
					t.Helper()
					return run(t, nil, tl["dpkg"], args...)
				}
				t.Cleanup(func() {
					try(nil, tl["dpkg"], "--purge", p.name)
					// Leave the machine as it was: the user and the state
					// that the package keeps on purge, if the test made them.
					if userErr != nil {
						try(nil, "userdel", p.user)
					}
					if stateErr != nil {
						os.RemoveAll(p.state)
					}
				})

				out := dpkg("-i", deb1)
				t.Logf("dpkg -i: %s", out)
				checkInstalled(t, p, tl, "0.0.1")

				// An edited config survives an upgrade.
				edited := "# edited by the operator\n"
				b, err := os.ReadFile(p.config)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p.config, append(b, edited...), 0o640); err != nil {
					t.Fatal(err)
				}
				dpkg("-i", "--force-confold", deb2)
				checkInstalled(t, p, tl, "0.0.2")
				if b, _ := os.ReadFile(p.config); !strings.HasSuffix(string(b), edited) {
					t.Errorf("the upgrade replaced the edited %s:\n%s", p.config, b)
				}

				dpkg("--purge", p.name)
				for _, gone := range []string{p.bin, "/usr/lib/systemd/system/" + p.unit, p.config, wantsLink(p.unit)} {
					if _, err := os.Lstat(gone); !errors.Is(err, os.ErrNotExist) {
						t.Errorf("%s is still there after purge (%v)", gone, err)
					}
				}
				if _, err := os.Stat(p.state); errors.Is(err, os.ErrNotExist) == !p.purgeState {
					t.Errorf("%s after purge: %v; want it deleted: %v", p.state, err, p.purgeState)
				}
			})
		})
	}
}

// wantsLink is the symlink that enables a unit at boot.
func wantsLink(unit string) string {
	return "/etc/systemd/system/multi-user.target.wants/" + unit
}

// checkInstalled checks what an installed package of version leaves: the
// program, the config with its owner and mode, the user, the state
// directory, a hardened unit that systemd accepts, enabled.
func checkInstalled(t *testing.T, p linuxPackage, tl map[string]string, version string) {
	t.Helper()
	if v := run(t, nil, tl["dpkg-query"], "-W", "-f", "${Version}", p.name); v != version+"-1" {
		t.Errorf("%s installed in version %q, want %s-1", p.name, v, version)
	}
	if out := run(t, nil, p.bin, "--version"); !strings.Contains(out, " 0.0.1 ") {
		t.Errorf("%s --version = %q, want the version stamped in, 0.0.1", p.bin, out)
	}

	u, err := user.Lookup(p.user)
	if err != nil {
		t.Fatalf("no user %s: %v", p.user, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	pw := run(t, nil, tl["getent"], "passwd", p.user)
	if uid >= 1000 || uid == 0 || !strings.HasSuffix(strings.TrimSpace(pw), ":/usr/sbin/nologin") || u.HomeDir != p.state {
		t.Errorf("user %s: %s; want a system user (uid below 1000) with home %s and no login shell", p.user, strings.TrimSpace(pw), p.state)
	}
	g, err := user.LookupGroup(p.user)
	if err != nil {
		t.Fatalf("no group %s: %v", p.user, err)
	}

	files := []struct {
		path     string
		mode     os.FileMode
		uid, gid string
		dir      bool
		conffile bool
	}{
		{path: p.bin, mode: 0o755, uid: "0", gid: "0"},
		{path: p.config, mode: 0o640, uid: "0", gid: g.Gid, conffile: true},
		{path: p.state, mode: 0o750, uid: u.Uid, gid: g.Gid, dir: true},
		{path: "/usr/lib/systemd/system/" + p.unit, mode: 0o644, uid: "0", gid: "0"},
	}
	conffiles := run(t, nil, tl["dpkg-query"], "-W", "-f", "${Conffiles}", p.name)
	for _, f := range files {
		fi, err := os.Stat(f.path)
		if err != nil {
			t.Errorf("%s: %v", f.path, err)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != f.mode || fi.IsDir() != f.dir || fmt.Sprint(st.Uid) != f.uid || fmt.Sprint(st.Gid) != f.gid {
			t.Errorf("%s: mode %v, owner %d:%d; want %v, %s:%s", f.path, fi.Mode(), st.Uid, st.Gid, f.mode, f.uid, f.gid)
		}
		if f.conffile && !strings.Contains(conffiles, f.path) {
			t.Errorf("%s is not a conffile (dpkg keeps edits to conffiles): %q", f.path, conffiles)
		}
	}

	// systemd's own check of the unit: silent when it is well formed.
	unitPath := "/usr/lib/systemd/system/" + p.unit
	vOut, vErr, err := try(nil, tl["systemd-analyze"], "verify", unitPath)
	if err != nil || strings.TrimSpace(vOut+vErr) != "" {
		t.Errorf("systemd-analyze verify %s: %v\n%s%s", p.unit, err, vOut, vErr)
	}
	unit, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]string{}
	for _, l := range strings.Split(string(unit), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(l, "#") {
			keys[k] = v
		}
	}
	for k, want := range map[string]string{
		"User": p.user, "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": p.state,
		"Restart": "on-failure", "CapabilityBoundingSet": "", "PrivateTmp": "yes", "WantedBy": "multi-user.target",
	} {
		if v, ok := keys[k]; !ok || v != want {
			t.Errorf("%s: %s=%q (set %v), want %q", p.unit, k, v, ok, want)
		}
	}
	if !strings.Contains(keys["ExecStart"], p.bin+" ") || !strings.Contains(keys["ExecStart"], "--config "+p.config) {
		t.Errorf("%s: ExecStart=%s, want %s with --config %s", p.unit, keys["ExecStart"], p.bin, p.config)
	}
	if target, err := os.Readlink(wantsLink(p.unit)); err != nil || filepath.Base(target) != p.unit {
		t.Errorf("%s is not enabled: %s -> %q (%v)", p.unit, wantsLink(p.unit), target, err)
	}

	// The service's user can read its config and run the program the way
	// the unit does (the agent: one snapshot, which needs no core).
	if p.kind == "agent" {
		cmd := exec.Command(tl["runuser"], "-u", p.user, "--", p.bin, "once", "--config", p.config)
		out, err := cmd.Output()
		var snap struct{ Metrics []json.RawMessage }
		if err == nil {
			err = json.Unmarshal(out, &snap)
		}
		if err != nil || len(snap.Metrics) == 0 {
			t.Errorf("as %s: %s once --config %s: %v, %d metrics", p.user, p.bin, p.config, err, len(snap.Metrics))
		}
	}
}
