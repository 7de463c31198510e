// Package appstest runs the example apps the way a user does: built
// binaries with the environment README gives, real memcached processes,
// signals from outside.
package appstest
