package main

import (
	"os"
	"path/filepath"
)

// defaultStateDir is %ProgramData%\esmon-agent: the service runs as
// LocalSystem, whose own profile directory is not where an operator looks.
func defaultStateDir() string {
	if d := os.Getenv("ProgramData"); d != "" {
		return filepath.Join(d, "esmon-agent")
	}
	return `C:\ProgramData\esmon-agent`
}
