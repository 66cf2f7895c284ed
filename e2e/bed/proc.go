package bed

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the bed, its output in Log.
type Proc struct {
	Name string
	Log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// startProc starts bin with args in its own process group; it is killed if
// the test process dies, so no run leaves a process behind.
func startProc(dir, name, bin string, args ...string) (*Proc, error) {
	logPath := filepath.Join(dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &Proc{Name: name, Log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	return p, nil
}

// Exited reports whether the process has ended.
func (p *Proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Signal sends sig to the process group.
func (p *Proc) Signal(sig syscall.Signal) {
	if p.cmd.Process != nil {
		_ = syscall.Kill(-p.cmd.Process.Pid, sig)
	}
}

// Kill stops the process at once (SIGKILL) and waits for it.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop asks the process to end (SIGTERM) and kills it after grace.
// It returns whether the process ended on its own.
func (p *Proc) Stop(grace time.Duration) bool {
	if p.Exited() {
		return true
	}
	p.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(grace):
		p.Kill()
		return false
	}
}

// ExitCode returns the exit code of an ended process (-1 for a signal).
func (p *Proc) ExitCode() int {
	<-p.done
	return p.cmd.ProcessState.ExitCode()
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// freePort returns a loopback port that was free a moment ago. It is taken
// below Linux's ephemeral range (32768 and up), where the kernel picks the
// local ports of outgoing connections: a port from that range could be
// taken by one of the bed's own connections before the process it is for
// binds it (a kube-controller-manager failed to start that way). No port is
// handed out twice in one run.
func freePort() (int, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 20000 + rand.IntN(12000)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return port, nil
	}
	return 0, errors.New("no free loopback port between 20000 and 32000")
}

// StartProcess starts any helper process the way the bed starts its own:
// its own process group, output in dir/name.log, killed with the test.
func StartProcess(dir, name, bin string, args ...string) (*Proc, error) {
	return startProc(dir, name, bin, args...)
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }
