//go:build race

package core

// raceEnabled: the race detector slows everything several times over, so
// timing budgets are reported, not enforced.
const raceEnabled = true
