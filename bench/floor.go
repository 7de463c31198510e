package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/bradfitz/gomemcache/memcache"
	"github.com/gin-gonic/gin"
	"github.com/gomsm/msm/core"
)

// The floor: what any session store that keeps its sessions in memcached
// must do at the least, and nothing more. A read is one get of the
// session's bytes, a write one set of them (no read first, no version, no
// second copy, no lock), and the bytes are stored as they are, with no
// encoding, no signature and no id check beyond its shape. It is no
// session manager (a write would lose a concurrent one's change); it is
// the limit of the memcached stores in this harness, as the bare handler
// is the limit of them all, so a target can be checked against what is
// reachable at all.

// floorPrefix is the 900 bytes of a floor session before its value v:
// the nine other attributes' worth.
var floorPrefix = strings.Repeat("p", (attrCount-1)*attrBytes)

func benchClient(mc []string) *memcache.Client {
	client := memcache.New(mc...)
	// The same pool and timeout as gomsm's defaults (see contrib-mc).
	client.MaxIdleConns = core.DefaultMaxIdleConns
	client.Timeout = core.DefaultOperationTimeout
	return client
}

func floorGin(client *memcache.Client) http.Handler {
	r := newGin()
	r.GET("/setup", func(c *gin.Context) {
		var id [16]byte
		rand.Read(id[:])
		sid := hex.EncodeToString(id[:])
		v := padV("0")
		err := client.Set(&memcache.Item{Key: "floor:" + sid, Value: []byte(floorPrefix + v), Expiration: 1800})
		if err == nil {
			http.SetCookie(c.Writer, &http.Cookie{Name: "sid", Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		}
		respond(c.Writer, v, err)
	})
	r.GET("/read", func(c *gin.Context) {
		key, err := floorKey(c.Request)
		var it *memcache.Item
		if err == nil {
			it, err = client.Get(key)
		}
		if err == nil && len(it.Value) != len(floorPrefix)+attrBytes {
			err = errors.New("floor: stored session of the wrong size")
		}
		if err != nil {
			respond(c.Writer, "", err)
			return
		}
		respond(c.Writer, string(it.Value[len(floorPrefix):]), nil)
	})
	r.GET("/write", func(c *gin.Context) {
		key, err := floorKey(c.Request)
		v := padV(c.Query("v"))
		if err == nil {
			err = client.Set(&memcache.Item{Key: key, Value: []byte(floorPrefix + v), Expiration: 1800})
		}
		respond(c.Writer, v, err)
	})
	return r
}

// floorKey is the memcached key of the request's session: its cookie, if
// it has the shape of an id the floor made (32 hex digits).
func floorKey(r *http.Request) (string, error) {
	ck, err := r.Cookie("sid")
	if err != nil {
		return "", err
	}
	if _, err := hex.DecodeString(ck.Value); err != nil || len(ck.Value) != 32 {
		return "", errors.New("floor: not an id")
	}
	return "floor:" + ck.Value, nil
}
