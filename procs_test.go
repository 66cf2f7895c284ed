package main

import (
	"context"
	"runtime"
	"testing"
)

func TestFollowLoadUnlessSet(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, tc := range []struct {
		env  string
		want int
	}{
		{env: "", want: 1},
		{env: "3", want: 3},
	} {
		t.Setenv("GOMAXPROCS", tc.env)
		runtime.GOMAXPROCS(3) // the runtime read the variable at start; stand in for that
		ctx, cancel := context.WithCancel(context.Background())
		followLoadUnlessSet(ctx)
		cancel()
		if got := runtime.GOMAXPROCS(0); got != tc.want {
			t.Errorf("GOMAXPROCS=%q: %d Ps, want %d", tc.env, got, tc.want)
		}
	}
}
