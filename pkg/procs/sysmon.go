package procs

import "strings"

// The runtime's system monitor (sysmon) is a thread of its own that
// sleeps deeply whenever every P is idle, and is woken by the first system
// call after that, to poll every 20 µs for a while. The controller idles
// between most of the hundred or so watch events a second a rollout
// brings, so each event wakes sysmon and sets it polling: in a 3,000-node
// rollout at the default client limits that thread had 78,000 context
// switches and a quarter of the process's CPU (per-thread times from /proc,
// docs/benchmarks). A CPU profile does not show it: sysmon runs no Go code.
//
// GODEBUG's schedtrace is the only switch that keeps sysmon out of its deep
// sleep: it then polls on its own backoff, up to every 10 ms, and is not
// woken by system calls. Its value is how often to print a line about the
// scheduler; the longest, about 24.8 days, prints one line that often, and
// one at start on a machine up longer than that.

// QuietSysmon is the setting SysmonEnv adds.
const QuietSysmon = "schedtrace=2147483647"

// SysmonEnv returns environ with QuietSysmon added to GODEBUG, and true;
// or environ and false if GODEBUG already says schedtrace (the user's
// choice, or ours from a first start).
func SysmonEnv(environ []string) ([]string, bool) {
	out := make([]string, 0, len(environ)+1)
	godebug := ""
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, "GODEBUG="); ok {
			godebug = v // the last one wins, as in os.Getenv
			continue
		}
		out = append(out, kv)
	}
	for _, setting := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(setting), "schedtrace=") {
			return environ, false
		}
	}
	if godebug != "" {
		godebug += ","
	}
	return append(out, "GODEBUG="+godebug+QuietSysmon), true
}
