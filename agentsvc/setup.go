package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/kardianos/service"
	"gopkg.in/yaml.v3"

	"esmon/agentsvc/link"
	"esmon/core/wire"
)

// setup is what installers run after they have put the agent in place and
// registered its service (the MSI's custom action; see packaging/wix): it
// writes the config file from the installer's JOIN_CODE and CORE_URL
// unless the file exists already, so an upgrade or a repair keeps what the
// operator set, and on Windows it sets what the MSI tables cannot say
// (delayed automatic start, restart on failure), then, with --start, starts
// the service if there is a config. It prints what it did, so the MSI log
// tells it.
func setup(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("setup", stderr, "esmon-agent setup --config FILE [--join-code CODE] [--core URL]\n\n"+
		"Writes FILE with the join code and core URL, readable by the service account alone,\n"+
		"unless FILE exists already (then it is kept as it is), and on Windows sets the\n"+
		"service's delayed start and restart on failure; with --start, starts the service\n"+
		"when FILE exists. Installers run it.")
	configPath := fs.String("config", "", "config `FILE` to write if it does not exist")
	joinCode := fs.String("join-code", "", "join `CODE` to write into the file")
	core := fs.String("core", "", "core `URL` to write into the file")
	start := fs.Bool("start", false, "start the service afterwards when FILE exists")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *configPath == "" {
		fmt.Fprintln(stderr, "esmon-agent setup: --config FILE is required")
		return exitUsage
	}
	wrote, err := writeSetupConfig(*configPath, strings.TrimSpace(*joinCode), strings.TrimSpace(*core))
	switch {
	case err != nil:
		fmt.Fprintf(stderr, "esmon-agent setup: %v\n", err)
		return exitFailed
	case wrote:
		fmt.Fprintf(stdout, "esmon-agent setup: wrote %s\n", *configPath)
	case *joinCode != "" || *core != "":
		fmt.Fprintf(stdout, "esmon-agent setup: kept %s as it is; the join code and core URL given were not written\n", *configPath)
	default:
		fmt.Fprintf(stdout, "esmon-agent setup: no join code or core URL given; %s not written\n", *configPath)
	}
	for _, w := range afterInstall() {
		fmt.Fprintf(stdout, "esmon-agent setup: %s\n", w)
	}
	if !*start {
		return exitOK
	}
	if _, err := os.Stat(*configPath); err != nil {
		fmt.Fprintf(stdout, "esmon-agent setup: the service is not started: %s does not exist yet\n", *configPath)
		return exitOK
	}
	// A service that does not start is reported, not fatal: the install
	// stays, and once the config is right the service starts at boot or
	// with "esmon-agent start".
	s, err := service.New(&program{}, serviceConfig(nil))
	if err == nil {
		err = s.Start()
	}
	if err != nil {
		fmt.Fprintf(stdout, "esmon-agent setup: the service did not start (%v); check %s and the event log\n", err, *configPath)
		return exitOK
	}
	fmt.Fprintln(stdout, "esmon-agent setup: service started")
	return exitOK
}

// writeSetupConfig writes path with the join code and core URL given, unless
// path exists or neither is given, and reports whether it wrote. The file
// and its directory are readable by the service account alone: the join code
// is a secret until the agent has used it.
func writeSetupConfig(path, joinCode, core string) (bool, error) {
	if _, err := os.Stat(path); err == nil {
		return false, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return false, fmt.Errorf("check config file: %w", err)
	}
	if joinCode == "" && core == "" {
		return false, nil
	}
	// A damaged code or address fails the install, with the reason in its
	// log, rather than leave a service that cannot connect.
	if joinCode != "" {
		if _, err := wire.ParseJoinCode(joinCode); err != nil {
			return false, err
		}
	}
	if core != "" {
		if _, err := link.CoreURL(core); err != nil {
			return false, err
		}
	}
	doc := map[string]string{}
	if joinCode != "" {
		doc["join_code"] = joinCode
	}
	if core != "" {
		doc["core"] = core
	}
	body, err := yaml.Marshal(doc)
	if err != nil {
		return false, fmt.Errorf("encode config: %w", err)
	}
	body = append([]byte("# esmon agent settings, written by the installer. The installer keeps this\n"+
		"# file on upgrade. Keys: esmon-agent run --help.\n"), body...)
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("make config directory: %w", err)
	}
	if err := restrictToService(dir); err != nil {
		return false, err
	}
	if err := writePrivate(path, body); err != nil {
		return false, err
	}
	return true, nil
}
