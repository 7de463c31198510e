// Package mcdial opens connections to memcached the way a production
// deployment needs them: over TLS (memcached -Z) with the certificate
// verified, and authenticated with memcached's ASCII authentication
// (memcached -Y), before the connection is handed to the memcached client.
//
// gomemcache dials through a DialContext function; Dialer.DialContext is
// one. It does the TCP connect, then the TLS handshake, then the
// authentication exchange, all bounded by the dial's context, so a server
// that hangs at any step cannot hang a request. Every failure is an
// *Error that names the server and the step, and says what to check.
package mcdial
