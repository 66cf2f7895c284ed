package bed

import (
	"fmt"
	"net"
	"testing"
)

// TestFreePortOutsideEphemeralRange: ports come from below the kernel's
// ephemeral range, are bindable, and are never handed out twice.
func TestFreePortOutsideEphemeralRange(t *testing.T) {
	seen := map[int]bool{}
	for range 200 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		if port < 20000 || port >= 32000 {
			t.Fatalf("port %d is outside 20000-32000", port)
		}
		if seen[port] {
			t.Fatalf("port %d handed out twice", port)
		}
		seen[port] = true
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the port handed out cannot be bound: %v", err)
	}
	l.Close()
}
