// Package fdlimit raises the process's open-file limit, so a core with
// thousands of agent and dashboard connections (or a simulator making them)
// does not run out of descriptors at the distribution's default.
package fdlimit
