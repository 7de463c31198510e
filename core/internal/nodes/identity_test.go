package nodes

import (
	"bufio"
	"strings"
	"testing"
)

func readStats(t *testing.T, s string) (Identity, error) {
	t.Helper()
	return readIdentity(bufio.NewReader(strings.NewReader(s)), "h:1")
}

func TestIdentityTellsRestartsAndFlushesApart(t *testing.T) {
	const stats = "STAT pid 7\r\nSTAT uptime 100\r\nSTAT time 1000\r\nSTAT cmd_flush 0\r\nSTAT curr_items 3\r\nEND\r\n"
	was, err := readStats(t, stats)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, stats string
		emptied     bool
	}{
		{"the same process a second later", "STAT pid 7\r\nSTAT uptime 101\r\nSTAT time 1001\r\nSTAT cmd_flush 0\r\nEND\r\n", false},
		{"restarted", "STAT pid 7\r\nSTAT uptime 5\r\nSTAT time 1005\r\nSTAT cmd_flush 0\r\nEND\r\n", true},
		{"another pid", "STAT pid 8\r\nSTAT uptime 100\r\nSTAT time 1000\r\nSTAT cmd_flush 0\r\nEND\r\n", true},
		{"flushed", "STAT pid 7\r\nSTAT uptime 100\r\nSTAT time 1000\r\nSTAT cmd_flush 1\r\nEND\r\n", true},
	} {
		now, err := readStats(t, tc.stats)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := now.EmptiedSince(was); got != tc.emptied {
			t.Errorf("%s: EmptiedSince = %v, want %v", tc.name, got, tc.emptied)
		}
	}
	for _, bad := range []string{"STAT pid 7\r\nEND\r\n", "ERROR\r\n", "STAT time x\r\nEND\r\n", "STAT pid 7\r\n"} {
		if _, err := readStats(t, bad); err == nil {
			t.Errorf("stats %q: no error", bad)
		}
	}
}
