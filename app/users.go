package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"golang.org/x/term"

	"esmon/core"
	"esmon/core/apiv1"
	"esmon/core/auth"
)

const usersUsage = `esmon users — manage the people who sign in to the core, while it is stopped.

Usage:
  esmon users add NAME [--role admin|operator|viewer]   create a user (default role admin)
  esmon users list                                     list users and their roles
  esmon users passwd NAME                              set a user's password
  esmon users delete NAME                              delete a user, their sessions and tokens
  esmon secret seal                                    encrypt a secret for the settings file

Passwords are read from the terminal without echo, or from standard input
(one line) when it is not a terminal, or from --password-file. While the core
runs, use the web page's Users page or the API (/api/v1/users) instead.

Flags:
`

// cliActor is who the audit log names for changes made with this command.
const cliActor = "esmon users"

// runUsers is `esmon users ...` and `esmon secret seal`: the first admin
// can be made on a server with no browser at hand, and a locked-out admin
// can get back in.
func runUsers(cmd string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("esmon "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usersUsage); fs.PrintDefaults() }
	dataDir := fs.String("data", "", "data directory of the core (default: esmon under the user's config directory); env ESMON_DATA")
	role := fs.String("role", apiv1.RoleAdmin, "with add: admin, operator or viewer")
	pwFile := fs.String("password-file", "", "read the password from this file instead of the terminal or standard input")
	if len(args) == 0 {
		fs.Usage()
		return 2
	}
	verb := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	// Flags may also follow the name: esmon users add ann --role viewer.
	var names []string
	for rest := fs.Args(); len(rest) > 0; rest = fs.Args() {
		names = append(names, rest[0])
		if err := fs.Parse(rest[1:]); err != nil {
			return 2
		}
	}
	dir := firstOf(*dataDir, os.Getenv("ESMON_DATA"))
	if dir == "" {
		cfg, err := os.UserConfigDir()
		if err != nil {
			fmt.Fprintf(stderr, "esmon: no data directory given and no user config directory: %v\n", err)
			return 2
		}
		dir = filepath.Join(cfg, "esmon")
	}
	need := map[string]int{"add": 1, "passwd": 1, "delete": 1, "list": 0, "seal": 0}
	if n, ok := need[verb]; !ok || len(names) != n || (cmd == "secret") != (verb == "seal") {
		fs.Usage()
		return 2
	}
	if err := users(verb, names, *role, dir, *pwFile, stdin, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "esmon %s %s: %v\n", cmd, verb, err)
		return 1
	}
	return 0
}

func users(verb string, names []string, role, dir, pwFile string, stdin io.Reader, stdout, stderr io.Writer) error {
	if verb == "seal" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return fmt.Errorf("create data directory: %w", err)
		}
		s, err := auth.LoadSealer(filepath.Join(dir, auth.SecretKeyFile))
		if err != nil {
			return err
		}
		secret, err := readSecret("Secret to seal: ", pwFile, stdin, stderr)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, s.Seal(secret))
		return nil
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, closeDB, err := core.OpenPeople(dir, log)
	if err != nil {
		return err
	}
	defer closeDB()
	ctx := context.Background()
	switch verb {
	case "list":
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "NAME\tROLE\tSTATE")
		for _, u := range svc.Users() {
			state := "enabled"
			if u.Disabled {
				state = "disabled"
			}
			fmt.Fprintf(w, "%s\t%s\t%s\n", u.Name, u.Role, state)
		}
		return w.Flush()
	case "add":
		pw, err := readSecret("Password for "+names[0]+": ", pwFile, stdin, stderr)
		if err != nil {
			return err
		}
		u, err := svc.AddUser(ctx, apiv1.NewUser{Name: names[0], Role: role, Password: pw}, cliActor, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "added %s (%s)\n", u.Name, u.Role)
	case "passwd":
		pw, err := readSecret("New password for "+names[0]+": ", pwFile, stdin, stderr)
		if err != nil {
			return err
		}
		if err := svc.SetPassword(ctx, names[0], nil, pw, auth.Identity{User: cliActor}, ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "password of %s changed; their sessions have ended\n", names[0])
	case "delete":
		if err := svc.DeleteUser(names[0], cliActor, ""); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s\n", names[0])
	}
	return nil
}

// readSecret reads a password or secret: from file, or from the terminal
// without echo, or as one line of stdin.
func readSecret(prompt, file string, stdin io.Reader, stderr io.Writer) (string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read password file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
