package core

import (
	"errors"
	"time"

	"github.com/gomsm/msm/codec"
	"github.com/gomsm/msm/core/internal/envelope"
	"github.com/gomsm/msm/core/internal/nodes"
)

// A session to its stored bytes and back, for both modes: the bytes are
// made by internal/envelope; here the Manager counts, logs and builds the
// session data around them.

// format is how this Manager stores sessions.
func (m *Manager) format() envelope.Format {
	return envelope.Format{Codec: m.cfg.Codec, Sealer: m.cfg.Sealer, KeyPrefix: m.cfg.KeyPrefix, MaxBytes: m.cfg.MaxSessionBytes}
}

// tombstone is envelope.Tombstone (see there).
var tombstone = envelope.Tombstone

func isTombstone(b []byte) bool { return envelope.IsTombstone(b) }

// encodeEnvelope builds the stored bytes of d with attrs and checks their
// size: over MaxSessionBytes it returns them with ErrSessionTooLarge.
// Called with d.mu held.
func (m *Manager) encodeEnvelope(d *sessionData, attrs map[string][]byte) ([]byte, error) {
	blob, err := m.format().Encode(&codec.Envelope{
		Version:   d.version,
		CreatedAt: d.created.time(), LastAccessed: d.lastAccessed.time(), MaxInactive: d.maxInactive,
		Attributes: attrs,
	}, d.base)
	if blob != nil {
		m.stats.encodedSize.observe(uint64(len(blob)))
	}
	return blob, err
}

// refuseBlob reports a session that encodeEnvelope would not let out:
// too large (logged with its size: the old copy in memcached stays) or not
// encodable.
func (m *Manager) refuseBlob(d *sessionData, blob []byte, err error) {
	if errors.Is(err, ErrSessionTooLarge) {
		m.stats.backupsTooLarge.Add(1)
		m.cfg.Logger.Error("gomsm: session not sent to memcached", "err", err, "session", fingerprint(d.base), "size", len(blob))
		return
	}
	m.stats.encodeErrors.Add(1)
	m.logOnce("session not sent to memcached: envelope cannot be encoded", "session", fingerprint(d.base), "err", err)
}

// checkSize reports ErrSessionTooLarge (wrapped, with the size) when d's
// encoding would be over MaxSessionBytes, nil otherwise (an attribute
// that cannot be encoded is reported at the end of the request, as
// today). Stale encodings are made here but not kept: the handler may
// still change a value in place after asking. Called with d.mu held.
func (m *Manager) checkSize(d *sessionData) error {
	attrs := d.attributes()
	enc := make(map[string][]byte, len(attrs))
	for k, a := range attrs {
		if m.staysLocal(k) {
			continue
		}
		b := a.enc
		if !a.encOK {
			var err error
			if b, err = envelope.Marshal(m.cfg.Codec, a.value); err != nil {
				return nil
			}
		}
		enc[k] = b
	}
	f := m.format()
	size, err := f.EstimateSize(&codec.Envelope{Version: d.version + 1, CreatedAt: d.created.time(),
		LastAccessed: d.lastAccessed.time(), MaxInactive: d.maxInactive, Attributes: enc})
	if err != nil {
		return nil
	}
	if size > f.MaxBytes {
		return f.TooLarge(size)
	}
	return nil
}

// decode turns stored bytes into a session with id on node n; undecodable
// bytes (counted, logged once per key) and sessions past MaxLifetime give nil.
func (m *Manager) decode(id sessionID, n *nodes.Node, value []byte) *sessionData {
	c := m.decodeCopy(id, n, value)
	if c == nil {
		return nil
	}
	return m.sessionOf(id, c, time.Now())
}

// loadedCopy is what a session's stored bytes say, apart from anything
// that depends on when they are read: the same bytes always give the same
// loadedCopy, so one can be shared by every load of those bytes (non-sticky
// mode's memo of decodes, nonSticky.decoded). Nothing in it is changed
// once made: the block is never written in place (compact.go).
type loadedCopy struct {
	createdAt   time.Time
	maxInactive time.Duration
	version     uint64
	packed      []byte
	lastHash    uint64
}

// decodeCopy is decode's reading of the bytes; nil for a tombstone or
// undecodable bytes.
func (m *Manager) decodeCopy(id sessionID, n *nodes.Node, value []byte) *loadedCopy {
	if isTombstone(value) {
		return nil // invalidated or renamed: no session, and nothing corrupt
	}
	env, err := m.format().Decode(value, id.base)
	if err != nil {
		m.stats.corrupt.Add(1)
		// Once per key: corrupt bytes are worth a line each, not a flood.
		m.logEvery("corrupt|"+id.base, "undecodable session in memcached", "session", fingerprint(id.base), "node", n.ID, "err", err)
		return nil
	}
	c := &loadedCopy{createdAt: env.CreatedAt, maxInactive: env.MaxInactive, version: env.Version}
	c.packed, c.lastHash = m.packLoaded(env.Attributes)
	return c
}

// sessionOf is the session with id that copy c gives when read at now; nil
// when the session is past MaxLifetime.
func (m *Manager) sessionOf(id sessionID, c *loadedCopy, now time.Time) *sessionData {
	if m.cfg.MaxLifetime > 0 && now.Sub(c.createdAt) > m.cfg.MaxLifetime {
		return nil
	}
	d := &sessionData{
		base: id.base, node: id.node, created: instantOf(c.createdAt), lastAccessed: instantOf(now),
		maxInactive: c.maxInactive,
		backedUp:    true, lastSync: now.UnixNano(),
		version: c.version, worker: workerFor(id.base),
		packed: c.packed, lastHash: c.lastHash,
	}
	if c.maxInactive != m.cfg.MaxInactive {
		d.lastSync = 0 // the gat used the default TTL: touch with the session's own
	}
	return d
}
