// Package writequeue is gomsm's ordered write queue: a fixed set of
// workers, each with its own queue, where jobs submitted for the same
// worker run one after the other in the order they were submitted. core
// gives each session one worker (by its id's base), so the memcached
// writes of a session never overtake each other, while different sessions
// are written in parallel.
//
// It knows nothing of what a job does; whether a queued write has been
// superseded by a newer one is for the job to decide when it runs. It
// imports only the standard library.
package writequeue
