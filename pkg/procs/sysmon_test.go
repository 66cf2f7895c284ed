package procs

import (
	"slices"
	"strings"
	"testing"
)

func TestSysmonEnv(t *testing.T) {
	cases := []struct {
		name    string
		in      []string
		want    []string
		changed bool
	}{
		{"no GODEBUG", []string{"PATH=/bin", "HOME=/"}, []string{"PATH=/bin", "HOME=/", "GODEBUG=" + QuietSysmon}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "PATH=/bin"}, []string{"PATH=/bin", "GODEBUG=" + QuietSysmon}, true},
		{"other settings kept", []string{"GODEBUG=http2client=0", "X=1"}, []string{"X=1", "GODEBUG=http2client=0," + QuietSysmon}, true},
		{"the last GODEBUG wins", []string{"GODEBUG=a=1", "GODEBUG=b=2"}, []string{"GODEBUG=b=2," + QuietSysmon}, true},
		{"the user's schedtrace", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{"the user's schedtrace among others", []string{"A=1", "GODEBUG=x=1, schedtrace=1000"}, []string{"A=1", "GODEBUG=x=1, schedtrace=1000"}, false},
		{"ours, after the first start", []string{"GODEBUG=" + QuietSysmon}, []string{"GODEBUG=" + QuietSysmon}, false},
		{"a name that only ends in schedtrace", []string{"GODEBUG=xschedtrace=1"}, []string{"GODEBUG=xschedtrace=1," + QuietSysmon}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, changed := SysmonEnv(tc.in)
			if changed != tc.changed || !slices.Equal(got, tc.want) {
				t.Errorf("SysmonEnv(%q) = %q, %v; want %q, %v", tc.in, got, changed, tc.want, tc.changed)
			}
		})
	}
}

// FuzzSysmonEnv: whatever the environment, a second run never changes it
// again (no exec loop), and only GODEBUG ever changes.
func FuzzSysmonEnv(f *testing.F) {
	f.Add("PATH=/bin\x00GODEBUG=x=1")
	f.Add("GODEBUG=schedtrace=5\x00GODEBUG=")
	f.Fuzz(func(t *testing.T, joined string) {
		in := strings.Split(joined, "\x00")
		once, _ := SysmonEnv(in)
		if again, changed := SysmonEnv(once); changed || !slices.Equal(again, once) {
			t.Fatalf("second run changed %q to %q", once, again)
		}
		isGODEBUG := func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") }
		if !slices.Equal(slices.DeleteFunc(slices.Clone(in), isGODEBUG), slices.DeleteFunc(slices.Clone(once), isGODEBUG)) {
			t.Fatalf("%q became %q: more than GODEBUG changed", in, once)
		}
	})
}
