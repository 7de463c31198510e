package core

import (
	"crypto/tls"
	"log/slog"
	"net/http"
	"time"

	"github.com/gomsm/msm/codec"
)

// Defaults of the Config fields. The zero value of a field means its default.
const (
	DefaultLockExpiry        = 5 * time.Second
	DefaultLockWait          = 2 * time.Second
	DefaultBackupTimeout     = 100 * time.Millisecond
	DefaultOperationTimeout  = time.Second
	DefaultNodeRetryInterval = 10 * time.Second
	DefaultMaxInactive       = 30 * time.Minute
	// DefaultMaxSessionBytes stays 1 KB below memcached's default 1 MB item
	// limit, leaving room for the key and the item header.
	DefaultMaxSessionBytes = 1<<20 - 1<<10
	// DefaultMaxIdleConns is the number of idle connections kept per node.
	// gomemcache's own default of 2 makes a busy server dial and close a
	// connection per request, until it runs out of ephemeral ports.
	DefaultMaxIdleConns = 64
	// DefaultMaxLocalSessions bounds the sessions one instance holds in
	// memory unless Config.MaxLocalSessions says otherwise: about 300 MB
	// of sessions of 1 KB, and what a flood of session-creating requests
	// can take at most.
	DefaultMaxLocalSessions = 100_000
	// DefaultCookieName is generic on purpose: a framework-specific name
	// would tell an attacker what runs behind it (OWASP).
	DefaultCookieName = "sid"
)

// Locking modes of Config.LockingMode (non-sticky mode only).
const (
	LockNone = "none"
	LockAll  = "all"
	LockAuto = "auto"
	// LockURIPattern is the prefix of "uriPattern:<regexp>".
	LockURIPattern = "uriPattern:"
)

// Config configures a Manager. Its zero value is a complete, local-only
// configuration; set Nodes to back sessions up to memcached.
type Config struct {
	// Nodes lists the memcached nodes: "n1:host:11211,n2:host:11212"
	// (comma or space separated), or "host:11211" alone for a single node
	// without id. Empty means local-only: sessions live in this process
	// and are lost with it.
	Nodes string

	// FailoverNodes lists node ids that take new or relocated sessions only
	// when no other node is up (sticky mode). Put the node that runs on this
	// instance's own machine here: it dies with the instance.
	FailoverNodes string

	// NonSticky selects non-sticky mode: memcached is the session store and
	// every request loads its session from it. Default: sticky mode.
	NonSticky bool

	// LockingMode serialises concurrent requests of one session in
	// non-sticky mode: "none" (default), "all", "auto" or
	// "uriPattern:<regexp>" (lock when the request path matches).
	LockingMode string

	// LockExpiry is the TTL of a lock item, so that the lock of a crashed
	// holder frees itself. Default 5s.
	LockExpiry time.Duration

	// LockWait is how long a request tries to take a lock. Default 2s.
	LockWait time.Duration

	// ProceedOnLockTimeout runs the handler without the lock when the lock
	// could not be had within LockWait (or no node could hold it), as the
	// Java original does. Default false: such a request is answered 503
	// (ErrLockTimeout), because running it unlocked can lose updates.
	ProceedOnLockTimeout bool

	// Deprecated: RejectOnLockTimeout is the default now (fail closed);
	// the field is kept so that configurations naming it still compile.
	// Setting it together with ProceedOnLockTimeout is an error.
	RejectOnLockTimeout bool

	// IgnorePattern is a regexp matched against the request path (not the
	// method, not the query). Matching requests never load, save or create
	// a session: use it for static files.
	IgnorePattern string

	// AttributeFilter is a regexp on attribute names: only matching
	// attributes go to memcached, the others stay in local memory (and are
	// lost when the instance is). Empty: every attribute is backed up.
	AttributeFilter string

	// SyncBackup makes the request wait for its backup (at most
	// BackupTimeout) before the middleware returns. Default: the backup is
	// done by a worker pool after the response.
	SyncBackup bool

	// BackupTimeout bounds a synchronous backup. Default 100ms.
	BackupTimeout time.Duration

	// BackupWorkers is the size of the asynchronous backup pool. Default
	// 4 x GOMAXPROCS, at least 16: a worker spends its time waiting on
	// memcached round trips, not on a CPU, so one per CPU lets the queue
	// lag behind under load. The backups of one session are done in order.
	BackupWorkers int

	// OperationTimeout bounds every memcached operation, dial included.
	// Default 1s.
	OperationTimeout time.Duration

	// NodeRetryInterval is how long a node that failed is skipped before it
	// is tried again. Default 10s.
	NodeRetryInterval time.Duration

	// MaxIdleConns is the number of idle connections kept per node. Size it
	// to the expected concurrency. Default 64.
	MaxIdleConns int

	// TLS, when set, encrypts every connection to memcached (memcached
	// started with -Z) with this configuration; the server's certificate
	// is verified against RootCAs (the system's when nil) and, when
	// ServerName is empty, against the host of the node's address. A
	// server that fails verification is counted down and never used in
	// clear. Default: plain TCP.
	TLS *tls.Config

	// Username and Password authenticate every new connection with
	// memcached's ASCII authentication (memcached started with -Y and a
	// file of user:password lines). A refused login counts the node down
	// and is logged as an error naming these fields. Default: none.
	Username string
	// Password goes with Username.
	Password string

	// KeyPrefix is put in front of every memcached key, so several apps can
	// share one memcached. Letters, digits and "_-.:/" only.
	KeyPrefix string

	// Codec encodes attribute values. Default codec.CBOR.
	Codec codec.Codec

	// Sealer, when set, encrypts every stored session (codec.NewAESGCM),
	// since anyone who can reach memcached can read its items. Default none.
	Sealer codec.Sealer

	// MaxInactive is the idle timeout of a session. Default 30m; a negative
	// value means sessions never expire from idleness.
	MaxInactive time.Duration

	// MaxLifetime is an optional absolute lifetime, counted from creation,
	// enforced however often the session is used. 0 means none.
	MaxLifetime time.Duration

	// MaxSessionBytes is the encoded size above which a session is not sent
	// to memcached (which would answer an oversized set by deleting the
	// backup it had). Default 1 MB - 1 KB.
	MaxSessionBytes int

	// CompactAfter, when positive, is how long a session must be idle
	// before its attributes are packed into one encoded block, which
	// roughly halves the memory an idle session takes; the next request
	// unpacks it. (A session whose attributes are all strings is kept
	// packed between requests without it: that loses nothing.) For other
	// values it is opt-in: they then come back as the codec decodes them, as on
	// another instance (Get gives the codec's generic types: use GetAs),
	// and what the codec cannot carry (unexported fields) is gone, so only
	// turn it on for sessions whose values round-trip through the codec.
	// Default 0: never.
	CompactAfter time.Duration

	// MaxLocalSessions bounds the sessions held in local memory (sticky
	// mode), so that a flood of requests that create sessions cannot grow
	// memory without bound. Over it, the least recently used session that
	// is safe to drop (its last backup reached memcached, no request uses
	// it) is dropped and reloads from memcached when it is used again;
	// when none of the least recently used is safe (memcached down, or
	// local-only mode, where a dropped session is lost), the least
	// recently used is dropped anyway. Default 100,000
	// (DefaultMaxLocalSessions); a negative value means no bound.
	MaxLocalSessions int

	// Cookie configures the session cookie.
	Cookie CookieConfig

	// TrustForwardedProto marks the cookie Secure on requests whose
	// X-Forwarded-Proto header says "https" (the first value when a chain
	// of proxies sent several), for TLS that ends at a proxy in front.
	// Turn it on only when that proxy sets the header itself. Default
	// false; Cookie.Secure is simpler when the site is HTTPS only.
	TrustForwardedProto bool

	// Header, when set, carries the session id in this request and response
	// header (for APIs) instead of a cookie. Default: the cookie.
	Header string

	// RoutePattern, when set, returns the route pattern of a request (say
	// "/users/{id}" for a router like chi). IgnorePattern and uriPattern
	// locking match it as well as the raw path. Sticky mode calls it when
	// the handler first uses its session, after routing. Non-sticky mode
	// must decide on the lock before the handler runs, so it calls it
	// then: with chi, mount the middleware where the route is known (on a
	// sub-router or with r.With), or the pattern is still empty and only
	// the raw path is matched.
	RoutePattern func(*http.Request) string

	// Route is this instance's route (like Tomcat's jvmRoute), appended to
	// session ids for load balancers that route on it. Empty: no route.
	Route string

	// Disabled keeps sessions local only, with no memcached traffic. It can
	// be switched at runtime with Manager.SetEnabled.
	Disabled bool

	// MaxSessionsPerPrincipal, when positive, bounds the live sessions of
	// one principal (Session.SetPrincipal): a login beyond it ends the
	// principal's oldest sessions, on every instance. Default 0: no limit.
	MaxSessionsPerPrincipal int

	// PrincipalCheckInterval is how often an instance checks a session
	// with a principal against the principal's index before serving it,
	// and so the bound within which InvalidatePrincipal (and
	// MaxSessionsPerPrincipal) takes effect on every instance, sticky
	// local copies included. Each check is one round trip (the index's two
	// copies read in parallel), made by a request of that session, at
	// most once per interval per session and instance; sessions without a
	// principal are never checked. Default 1s
	// (DefaultPrincipalCheckInterval).
	PrincipalCheckInterval time.Duration

	// OnEvent, when set, is told of every session lifecycle event on this
	// instance (Event, EventKind: created, invalidated, renewed, expired,
	// relocated, taken over). It is called from one goroutine of its own,
	// one event at a time, in the order they were queued, never with a
	// lock of the Manager held and never on a request's goroutine: a
	// request only queues the event, without waiting. The queue holds
	// 4096 events; while it is full new ones are dropped and counted
	// (Stats.EventsDropped), so an OnEvent that blocks loses events but
	// slows nothing down. Close delivers the events queued before it and
	// waits for OnEvent to return. A panic in OnEvent is logged.
	// Default none.
	OnEvent func(Event)

	// Logger receives structured logs. It never sees session contents or
	// whole session ids. Default slog.Default().
	Logger *slog.Logger
}

// CookieConfig configures the session cookie. HttpOnly is always set.
type CookieConfig struct {
	// Name of the cookie. Default "sid". A "__Host-" name needs Secure,
	// no Domain and Path "/"; a "__Secure-" name needs Secure.
	Name string
	// Path of the cookie. Default "/".
	Path string
	// Domain of the cookie. Default none (host only).
	Domain string
	// Secure restricts the cookie to HTTPS. When false, the cookie is still
	// marked Secure on requests that came over TLS.
	Secure bool
	// SameSite mode. Default http.SameSiteLaxMode.
	SameSite http.SameSite
	// Partitioned sets the CHIPS Partitioned attribute (needs Secure).
	Partitioned bool
	// Persist makes the cookie outlive the browser session: it gets a
	// Max-Age of the session's MaxInactive. Default: a browser-session cookie.
	Persist bool
}
