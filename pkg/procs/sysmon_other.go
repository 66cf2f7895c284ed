//go:build !unix

package procs

// QuietSysmonOrContinue does nothing where a process cannot run a binary in
// its own place.
func QuietSysmonOrContinue() {}
