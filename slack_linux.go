package main

import (
	"os"
	"runtime"
	"syscall"
)

// timerSlack is how late the kernel may end a timed sleep of any of the
// controller's threads, so that it can fold nearby wake-ups into one. The
// kernel's default is 50 µs.
//
// Why: the Go runtime's system monitor (sysmon) sleeps deeply while the
// process idles, and the first system call after that wakes it to poll
// every 20 µs until the process idles again. The controller idles between
// most watch events, so in a 3,000-node rollout sysmon had some 80,000
// context switches and took a quarter of the process's CPU. With a slack,
// its first poll comes a slack later and no system call wakes it in
// between: at 1 ms it still slept and woke about 130 times a second
// (41,700 context switches in that rollout), at 10 ms about 50 times
// (15,400). Nothing here needs a timer finer than 10 ms: the rate limiter
// grants tokens 100 ms apart and counts them by the clock, not by its
// wake-ups, and the shortest retry backoff (5 ms, doubling) only starts a
// little later. A slack adds no wake-ups at rest (docs/benchmarks,
// sessions 9 and 10).
const timerSlack = 10_000_000 // ns

// prctl options (linux/prctl.h), not in package syscall.
const (
	prSetTimerSlack = 29
	prGetTimerSlack = 30
)

// keepSlackEnv, when set, keeps the slack the process started with. The
// process that widenTimerSlack starts has it set, so that a kernel that
// did not keep the slack across exec could not make it loop; a user can
// set it to run the binary without the second exec (under a debugger,
// say).
const keepSlackEnv = "DAEMONSET_CONTROLLER_KEEP_TIMER_SLACK"

// widenTimerSlack gives every thread of the process timerSlack. A thread's
// slack is its own, copied to the threads it starts and kept across exec,
// and the runtime starts sysmon before main runs: so where the process's
// slack is narrower, it sets the slack of this thread and runs the binary
// again in its place, with the same arguments and environment. It returns
// where the slack is already wide enough or cannot be changed.
func widenTimerSlack() {
	if os.Getenv(keepSlackEnv) != "" {
		return
	}
	if slack, ok := currentTimerSlack(); !ok || slack >= timerSlack {
		return
	}
	// prctl and exec must run on the same thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, timerSlack, 0); errno != 0 {
		return
	}
	// The kernel ignores the call for real-time threads.
	if slack, ok := currentTimerSlack(); !ok || slack < timerSlack {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), keepSlackEnv+"=1")
	_ = syscall.Exec(exe, os.Args, env) // returns only on failure: run as we are
}

func currentTimerSlack() (uintptr, bool) {
	slack, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prGetTimerSlack, 0, 0)
	return slack, errno == 0
}
