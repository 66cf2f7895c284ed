package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// TestUserErrors: mistakes a user can make end the binary with one clear
// line on stderr and a non-zero exit, within 30 s, never a hang or a trace.
func TestUserErrors(t *testing.T) {
	closed := filepath.Join(t.TempDir(), "unreachable.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://127.0.0.1:1", InsecureSkipTLSVerify: true}
	cfg.AuthInfos["u"] = &clientcmdapi.AuthInfo{Token: "x"}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "u"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, closed); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"missing kubeconfig", []string{"--kubeconfig=/does/not/exist"}, "kubeconfig /does/not/exist: no such file or directory"},
		{"unreachable API server", []string{"--kubeconfig=" + closed}, "cannot reach the API server at https://127.0.0.1:1"},
		{"bad workers", []string{"--kubeconfig=" + closed, "--workers=0"}, "--workers must be at least 1"},
		{"bad qps", []string{"--kubeconfig=" + closed, "--kube-api-qps=-1"}, "--kube-api-qps must be positive"},
		{"bad content type", []string{"--kubeconfig=" + closed, "--kube-api-content-type=application/yaml"}, "--kube-api-content-type must be application/vnd.kubernetes.protobuf or application/json"},
		{"unknown flag", []string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			var stderr strings.Builder
			cmd := exec.CommandContext(ctx, ctrlBin, tc.args...)
			cmd.Env = append(os.Environ(), "KUBECONFIG=")
			cmd.Stderr = &stderr
			err := cmd.Run()
			if ctx.Err() != nil {
				t.Fatal("still running after 30 s")
			}
			if code := cmd.ProcessState.ExitCode(); err == nil || code == 0 {
				t.Fatalf("exit code %d, want non-zero", code)
			}
			out := stderr.String()
			if !strings.Contains(out, tc.want) {
				t.Errorf("stderr %q does not say %q", out, tc.want)
			}
			if strings.Contains(out, "goroutine ") || strings.Contains(out, "panic") {
				t.Errorf("stderr has a stack trace: %s", out)
			}
			if tc.name != "unknown flag" && strings.Count(strings.TrimSpace(out), "\n") > 0 {
				t.Errorf("want one line, got:\n%s", out)
			}
		})
	}
}

// TestGracefulStop: SIGINT and SIGTERM each stop the controller cleanly
// with exit code 0. A fresh controller then takes over for the tests that
// follow.
func TestGracefulStop(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		p := currentController()
		waitReady(t, p)
		p.Signal(sig)
		deadline := time.Now().Add(30 * time.Second)
		for !p.Exited() {
			if time.Now().After(deadline) {
				t.Fatalf("the controller did not stop within 30 s of %v", sig)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if code := p.ExitCode(); code != 0 {
			t.Fatalf("exit code %d after %v, want 0", code, sig)
		}
		if err := restartController(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTimerSlack: the controller runs with a timer slack of 10 ms on every
// thread, sysmon's included (the binary runs itself again at start to get
// it; see slack_linux.go), and DAEMONSET_CONTROLLER_KEEP_TIMER_SLACK keeps
// the slack it was started with.
func TestTimerSlack(t *testing.T) {
	p := currentController()
	waitReady(t, p)
	const want = "10000000"
	if got := timerSlackOf(t, p.Pid()); got != want {
		t.Fatalf("the controller's timer slack is %s ns, want %s", got, want)
	}
	own := timerSlackOf(t, os.Getpid())
	if own == want {
		t.Fatal("this test's own slack is 10 ms already: it cannot tell the difference")
	}
	// The controller's first connection to this listener comes after any
	// exec it would make.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	kubeconfig := filepath.Join(t.TempDir(), "listener.kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["c"] = &clientcmdapi.Cluster{Server: "https://" + ln.Addr().String(), InsecureSkipTLSVerify: true}
	cfg.Contexts["c"] = &clientcmdapi.Context{Cluster: "c"}
	cfg.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(ctrlBin, "--kubeconfig="+kubeconfig)
	cmd.Env = append(os.Environ(), "DAEMONSET_CONTROLLER_KEEP_TIMER_SLACK=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(20 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatalf("the second controller never connected: %v", err)
	}
	defer conn.Close()
	if got := timerSlackOf(t, cmd.Process.Pid); got != own {
		t.Fatalf("with DAEMONSET_CONTROLLER_KEEP_TIMER_SLACK the slack is %s ns, want the parent's %s", got, own)
	}
}

func timerSlackOf(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/timerslack_ns", pid))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}
