package collect

// LoadSource is empty on Windows, which has no load averages.
type LoadSource interface{}

func osCollectors(Source) []Collector { return nil }
