package core

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core/internal/mcdial"
)

// This file turns a Config into what New uses: the defaults of its zero
// fields, the checks of every field (each error names the field and gives a
// value that works), and the patterns compiled once.

// withDefaults returns c with every zero field replaced by its default
// (one if per field: longer than 50 lines, but a flat list reads best).
func (c Config) withDefaults() Config {
	if c.LockingMode == "" {
		c.LockingMode = LockNone
	}
	if c.LockExpiry == 0 {
		c.LockExpiry = DefaultLockExpiry
	}
	if c.LockWait == 0 {
		c.LockWait = DefaultLockWait
	}
	if c.BackupTimeout == 0 {
		c.BackupTimeout = DefaultBackupTimeout
	}
	if c.BackupWorkers == 0 {
		c.BackupWorkers = max(16, 4*runtime.GOMAXPROCS(0))
	}
	if c.OperationTimeout == 0 {
		c.OperationTimeout = DefaultOperationTimeout
	}
	if c.NodeRetryInterval == 0 {
		c.NodeRetryInterval = DefaultNodeRetryInterval
	}
	if c.MaxIdleConns == 0 {
		c.MaxIdleConns = DefaultMaxIdleConns
	}
	if c.Codec == nil {
		c.Codec = codec.CBOR
	}
	if c.MaxInactive == 0 {
		c.MaxInactive = DefaultMaxInactive
	}
	if c.MaxSessionBytes == 0 {
		c.MaxSessionBytes = DefaultMaxSessionBytes
	}
	if c.MaxLocalSessions == 0 {
		c.MaxLocalSessions = DefaultMaxLocalSessions
	}
	if c.Cookie.Name == "" {
		c.Cookie.Name = DefaultCookieName
	}
	if c.Cookie.Path == "" {
		c.Cookie.Path = "/"
	}
	if c.Cookie.SameSite == 0 {
		c.Cookie.SameSite = http.SameSiteLaxMode
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PrincipalCheckInterval == 0 {
		c.PrincipalCheckInterval = DefaultPrincipalCheckInterval
	}
	return c
}

// compiledConfig holds what New derives from a Config once.
type compiledConfig struct {
	Config
	ignore     *regexp.Regexp
	attrFilter *regexp.Regexp
	lockURI    *regexp.Regexp
}

var (
	keyPrefixRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{0,64}$`)
	routeRE     = regexp.MustCompile(`^[A-Za-z0-9_-]{0,32}$`)
	cookieRE    = regexp.MustCompile(`^[A-Za-z0-9!#$%&'*+.^_|~-]+$`)
)

// zeroMeans says what a zero duration field means, for error messages.
func zeroMeans(field string) string {
	if field == "MaxLifetime" {
		return "no absolute lifetime"
	}
	return "the default"
}

// checkNames checks the fields that end up in keys, ids and headers.
func checkNames(c Config) []error {
	var errs []error
	if !keyPrefixRE.MatchString(c.KeyPrefix) {
		errs = append(errs, fmt.Errorf("core: KeyPrefix %q: want at most 64 letters, digits and _.:/-, as in \"shop:\"", c.KeyPrefix))
	}
	if !routeRE.MatchString(c.Route) {
		errs = append(errs, fmt.Errorf("core: Route %q: want at most 32 letters, digits, _ and -, as in \"app1\"", c.Route))
	}
	if !cookieRE.MatchString(c.Cookie.Name) {
		errs = append(errs, fmt.Errorf("core: Cookie.Name %q is not a valid cookie name; want letters, digits and !#$%%&'*+-.^_`|~, as in \"sid\"", c.Cookie.Name))
	}
	if strings.HasPrefix(c.Cookie.Name, "__Host-") && (!c.Cookie.Secure || c.Cookie.Domain != "" || c.Cookie.Path != "/") {
		errs = append(errs, fmt.Errorf("core: Cookie.Name %q: a __Host- cookie needs Secure, no Domain and Path /", c.Cookie.Name))
	}
	if strings.HasPrefix(c.Cookie.Name, "__Secure-") && !c.Cookie.Secure {
		errs = append(errs, fmt.Errorf("core: Cookie.Name %q: a __Secure- cookie needs Secure", c.Cookie.Name))
	}
	if c.Header != "" && !cookieRE.MatchString(c.Header) {
		errs = append(errs, fmt.Errorf("core: Header %q is not a valid header name; want letters, digits and !#$%%&'*+-.^_`|~, as in \"X-Session\"", c.Header))
	}
	return errs
}

// compile validates c (with defaults applied) and compiles its patterns.
// Every error names the offending field.
func compile(c Config) (*compiledConfig, error) {
	c = c.withDefaults()
	cc := &compiledConfig{Config: c}
	var errs []error
	re := func(field, s string) *regexp.Regexp {
		if s == "" {
			return nil
		}
		r, err := regexp.Compile(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("core: %s: %w", field, err))
		}
		return r
	}
	cc.ignore = re("IgnorePattern", c.IgnorePattern)
	cc.attrFilter = re("AttributeFilter", c.AttributeFilter)
	switch {
	case c.LockingMode == LockNone, c.LockingMode == LockAll, c.LockingMode == LockAuto:
	case strings.HasPrefix(c.LockingMode, LockURIPattern):
		cc.lockURI = re("LockingMode", strings.TrimPrefix(c.LockingMode, LockURIPattern))
	default:
		errs = append(errs, fmt.Errorf("core: LockingMode %q: want none, all, auto or uriPattern:<regexp>, as in \"uriPattern:^/cart/\"", c.LockingMode))
	}
	errs = append(errs, checkNames(c)...)
	if err := mcdial.CheckCredentials(c.Username, c.Password); err != nil {
		errs = append(errs, fmt.Errorf("core: %w", err))
	}
	if c.ProceedOnLockTimeout && c.RejectOnLockTimeout {
		errs = append(errs, errors.New("core: ProceedOnLockTimeout and RejectOnLockTimeout are both true; set at most one"))
	}
	if c.Cookie.Partitioned && !c.Cookie.Secure {
		errs = append(errs, errors.New("core: Cookie.Partitioned needs Cookie.Secure: true (browsers drop a partitioned cookie that is not Secure)"))
	}
	errs = append(errs, checkNumbers(c)...)
	return cc, errors.Join(errs...)
}

// checkNumbers checks the durations and counts that must not be negative.
func checkNumbers(c Config) []error {
	var errs []error
	for field, d := range map[string]time.Duration{
		"LockExpiry": c.LockExpiry, "LockWait": c.LockWait, "BackupTimeout": c.BackupTimeout,
		"OperationTimeout": c.OperationTimeout, "NodeRetryInterval": c.NodeRetryInterval,
		"MaxLifetime": c.MaxLifetime, "PrincipalCheckInterval": c.PrincipalCheckInterval,
	} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("core: %s is %v: want 0 (%s) or a positive duration, as in 2*time.Second", field, d, zeroMeans(field)))
		}
	}
	for field, n := range map[string]int{
		"BackupWorkers": c.BackupWorkers, "MaxIdleConns": c.MaxIdleConns, "MaxSessionBytes": c.MaxSessionBytes,
		"MaxSessionsPerPrincipal": c.MaxSessionsPerPrincipal,
	} {
		if n < 0 {
			errs = append(errs, fmt.Errorf("core: %s is %d: want 0 (the default) or a positive number", field, n))
		}
	}
	return errs
}
