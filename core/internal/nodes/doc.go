// Package nodes is gomsm's memcached node set: the parsing of the node
// list, each node's client (its connection pool) and health (marked down
// after a failure, probed again after the retry interval, skipped only
// briefly when it is slow rather than gone), the choice of a node (round
// robin over the up nodes, failover nodes last, the next node up for a
// backup copy), and Cluster.Do, the single door through which every
// memcached operation passes and is counted.
//
// It knows nothing of sessions or of the Manager: core wires its counting
// and logging in through Cluster's OnDown and OnUp hooks. It imports only
// gomemcache.
package nodes
