// Package cachecontrol keeps responses that carry a session id out of
// shared caches: Private rewrites a response's Cache-Control (and drops
// the CDN-specific headers), ForwardedHTTPS reads what a proxy says of the
// client's scheme. It is plain net/http: no session, no Manager.
package cachecontrol
