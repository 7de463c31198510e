// Package docstest holds the Go snippets of the documentation under docs/
// as runnable examples, so that every snippet compiles and, where it can
// run without memcached, shows its real output. Each page says which
// Example holds which snippet; change both together.
package docstest
