package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"

	"k8s.io/client-go/rest"
)

// TestInformersWatchOverHTTP1: the informers' client speaks HTTP/1.1 to a
// server that offers HTTP/2 (which the controller's own client speaks),
// and its connections probe a silent peer after 30 s, three times 5 s
// apart.
func TestInformersWatchOverHTTP1(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(r.Proto))
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	cfg := &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	informerCfg := rest.CopyConfig(cfg)
	watchOverHTTP1(informerCfg)
	for _, c := range []struct {
		name string
		cfg  *rest.Config
		want string
	}{{"controller", cfg, "HTTP/2.0"}, {"informers", informerCfg, "HTTP/1.1"}} {
		hc, err := rest.HTTPClientFor(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := hc.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Proto != c.want {
			t.Errorf("%s client: %s, want %s", c.name, resp.Proto, c.want)
		}
	}

	u, _ := url.Parse(srv.URL)
	conn, err := informerCfg.Dial(context.Background(), "tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	raw, err := conn.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []struct {
		name      string
		level, op int
		want      int
	}{
		{"SO_KEEPALIVE", syscall.SOL_SOCKET, syscall.SO_KEEPALIVE, 1},
		{"TCP_KEEPIDLE", syscall.IPPROTO_TCP, syscall.TCP_KEEPIDLE, 30},
		{"TCP_KEEPINTVL", syscall.IPPROTO_TCP, syscall.TCP_KEEPINTVL, 5},
		{"TCP_KEEPCNT", syscall.IPPROTO_TCP, syscall.TCP_KEEPCNT, 3},
	} {
		var got int
		var gerr error
		if err := raw.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), o.level, o.op) }); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if got != o.want {
			t.Errorf("%s = %d, want %d", o.name, got, o.want)
		}
	}
}
