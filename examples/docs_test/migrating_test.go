package docstest_test

import (
	"encoding/json"
	"expvar"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core"
)

// docs/migrating-from-java-msm.md, "A context.xml and its Config": the
// sticky Tomcat setup of the page, attribute by attribute.
func Example_migrateContextXML() {
	cfg := core.Config{
		Nodes:            "n1:mc1.internal:11211,n2:mc2.internal:11211", // memcachedNodes
		FailoverNodes:    "n1",                                          // failoverNodes
		IgnorePattern:    `\.(ico|png|gif|jpg|css|js)$`,                 // requestUriIgnorePattern (path only)
		AttributeFilter:  `^(user|cart)$`,                               // sessionAttributeFilter
		SyncBackup:       false,                                         // sessionBackupAsync="true"
		BackupTimeout:    100 * time.Millisecond,                        // sessionBackupTimeout="100"
		BackupWorkers:    4,                                             // backupThreadCount="4"
		OperationTimeout: time.Second,                                   // operationTimeout="1000"
		KeyPrefix:        "shop:",                                       // storageKeyPrefix="static:shop"
		Codec:            codec.CBOR,                                    // transcoderFactoryClass
		MaxInactive:      30 * time.Minute,                              // <session-timeout>30</session-timeout>
		Route:            "tomcat1",                                     // jvmRoute="tomcat1"
	}
	m, err := core.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println(m.Enabled()) // enabled="true"
	// Output: true
}

// docs/migrating-from-java-msm.md, "Non-sticky": sticky="false" with
// lockingMode="auto".
func Example_migrateNonSticky() {
	m, err := core.New(core.Config{
		Nodes:       "n1:mc1.internal:11211,n2:mc2.internal:11211",
		NonSticky:   true,          // sticky="false"
		LockingMode: core.LockAuto, // lockingMode="auto"
		LockExpiry:  5 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println("ok")
	// Output: ok
}

// docs/migrating-from-java-msm.md, "Statistics and operations: JMX
// becomes Stats, expvar, Prometheus and the admin handler".
func Example_migrateMonitoring() {
	m, err := core.New(core.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	app := m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		core.FromContext(r.Context()).Set("seen", true)
	}))
	app.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))

	// The MBean's attributes: one snapshot, from your own code ...
	st := m.Stats()
	fmt.Println("requests", st.Requests, "created", st.SessionsCreated)

	// ... on /debug/vars (expvar) ...
	if err := m.PublishExpvar("gomsm_docs"); err != nil {
		log.Fatal(err)
	}

	// ... and the MBean's operations, on an internal listener, behind
	// your own authentication.
	internal := http.NewServeMux()
	internal.Handle("/admin/sessions/", http.StripPrefix("/admin/sessions", m.AdminHandler()))

	var vars struct{ Requests uint64 }
	json.Unmarshal([]byte(expvar.Get("gomsm_docs").String()), &vars)
	fmt.Println("expvar requests", vars.Requests)
	rec := httptest.NewRecorder()
	internal.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/admin/sessions/disable", nil))
	fmt.Println("disable", rec.Code, "enabled", m.Enabled())
	// Output:
	// requests 1 created 1
	// expvar requests 1
	// disable 200 enabled false
}
