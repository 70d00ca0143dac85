//go:build !windows

package collect

func isWindows() bool { return false }
