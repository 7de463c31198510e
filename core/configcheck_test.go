package core_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gomsm/msm/core"
)

// Tests of the configuration checks (configcheck.go): a bad Config is an
// error that names its field, never a panic.

// TestNewRejectsBadConfigWithoutPanic: every bad setting is an error from
// core.New that names the field; nothing panics.
func TestNewRejectsBadConfigWithoutPanic(t *testing.T) {
	t.Parallel()
	cases := []struct {
		field string
		cfg   core.Config
	}{
		{"Nodes", core.Config{Nodes: "n1:h:1,h:2"}},
		{"Nodes", core.Config{Nodes: "n1:h:99999"}},
		{"FailoverNodes", core.Config{Nodes: "n1:h:1", FailoverNodes: "n2"}},
		{"LockingMode", core.Config{LockingMode: "sometimes"}},
		{"LockingMode", core.Config{LockingMode: "uriPattern:("}},
		{"IgnorePattern", core.Config{IgnorePattern: "("}},
		{"AttributeFilter", core.Config{AttributeFilter: "[z-a]"}},
		{"KeyPrefix", core.Config{KeyPrefix: "has space"}},
		{"KeyPrefix", core.Config{KeyPrefix: "crlf\r\nflush_all"}},
		{"KeyPrefix", core.Config{KeyPrefix: strings.Repeat("p", 200)}},
		{"Route", core.Config{Route: "a.b"}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "bad name"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Host-sid"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Host-sid", Secure: true, Domain: "app.test"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Host-sid", Secure: true, Path: "/app"}}},
		{"Cookie.Name", core.Config{Cookie: core.CookieConfig{Name: "__Secure-sid"}}},
		{"Cookie.Partitioned", core.Config{Cookie: core.CookieConfig{Partitioned: true}}},
		{"Header", core.Config{Header: "X Session"}},
		{"LockExpiry", core.Config{LockExpiry: -time.Second}},
		{"LockWait", core.Config{LockWait: -time.Second}},
		{"BackupTimeout", core.Config{BackupTimeout: -time.Second}},
		{"OperationTimeout", core.Config{OperationTimeout: -time.Second}},
		{"NodeRetryInterval", core.Config{NodeRetryInterval: -time.Second}},
		{"BackupWorkers", core.Config{BackupWorkers: -1}},
		{"MaxIdleConns", core.Config{MaxIdleConns: -1}},
		{"MaxSessionBytes", core.Config{MaxSessionBytes: -1}},
		{"MaxLifetime", core.Config{MaxLifetime: -time.Second}},
	}
	var missing []string
	for _, tc := range cases {
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Errorf("core.New with a bad %s panicked: %v", tc.field, p)
				}
			}()
			m, err := core.New(tc.cfg)
			if err == nil {
				m.Close()
				t.Errorf("core.New accepted a bad %s: %+v", tc.field, tc.cfg)
				return
			}
			if m != nil {
				t.Errorf("core.New returned a Manager with the error %v", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				if tc.field == "Nodes" || tc.field == "FailoverNodes" {
					missing = append(missing, fmt.Sprintf("%s: %v", tc.field, err))
					return
				}
				t.Errorf("error for a bad %s does not name it: %v", tc.field, err)
			}
		}()
	}
	if len(missing) > 0 {
		t.Errorf("New does not name the field in node list errors: %q", missing)
	}
}
