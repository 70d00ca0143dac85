package collect

func isWindows() bool { return true }
