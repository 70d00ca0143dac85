package main

import (
	"os"
	"strings"
	"testing"
)

func TestAutostartEntry(t *testing.T) {
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	a := autostart{exe: "/opt/esmon/bin/esmon", args: []string{"--connect", "https://core.example.net:8470", "--token-file", `/home/o p/"t"`}}
	for _, want := range []bool{true, false, true} {
		if err := a.SetEnabled(want); err != nil {
			t.Fatal(err)
		}
		got, err := a.Enabled()
		if err != nil || got != want {
			t.Fatalf("Enabled() = %v, %v after SetEnabled(%v)", got, err, want)
		}
	}
	p, _ := a.path()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `Exec="/opt/esmon/bin/esmon" "--connect" "https://core.example.net:8470" "--token-file" "/home/o p/\"t\""`
	if !strings.Contains(string(b), want+"\n") || !strings.HasPrefix(string(b), "[Desktop Entry]\nType=Application\n") {
		t.Errorf("entry:\n%s\nwant the line %s", b, want)
	}
}
