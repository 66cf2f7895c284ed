//go:build unix

package procs

import (
	"os"
	"syscall"
)

// QuietSysmonOrContinue runs the binary again, in place (same process ID,
// arguments and environment), with QuietSysmon in GODEBUG, which the
// runtime reads only at start. It returns if GODEBUG already says
// schedtrace, or if the binary cannot be run again; the process then goes
// on as it is, only costing more CPU.
func QuietSysmonOrContinue() {
	env, changed := SysmonEnv(os.Environ())
	if !changed {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	_ = syscall.Exec(exe, os.Args, env)
}
