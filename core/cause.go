package core

import (
	"fmt"
	"strings"
)

// cause is err for wrapping into another of core's errors, whose text
// already names the package: its text drops the leading "core: " (of each
// line, for an errors.Join), so a message reads "core: session change not
// stored in memcached: node n1: i/o timeout", never "core: ...: core:
// node n1: ...". errors.Is and errors.As see err through it.
func cause(err error) error {
	if err == nil {
		return nil
	}
	return causeError{err}
}

type causeError struct{ err error }

func (c causeError) Error() string {
	lines := strings.Split(c.err.Error(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "core: ")
	}
	return strings.Join(lines, "\n")
}

func (c causeError) Unwrap() error { return c.err }

// wrapSave is ErrSaveFailed with err as its cause.
func wrapSave(err error) error { return fmt.Errorf("%w: %w", ErrSaveFailed, cause(err)) }
