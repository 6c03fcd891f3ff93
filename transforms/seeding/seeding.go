// Package seeding derives the per-element random generators that every pretext
// task uses, so that a label depends only on (seed, task, key, variant) and never
// on the runner, the bundle, the worker or the input order (docs/reliability.md,
// "Reproducible labels").
package seeding

import (
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
)

// New returns a PCG generator seeded from a stable hash of (seed, task, key,
// variant). Two calls with the same arguments return generators that produce the
// same sequence on any machine.
func New(seed int64, task, key string, variant int) *rand.Rand {
	s1, s2 := Hash(seed, task, key, variant)
	return rand.New(rand.NewPCG(s1, s2))
}

// Hash returns the two 64-bit words New seeds its generator with. It is exported
// for decisions that need a stable number rather than a stream (shard choice,
// split assignment).
func Hash(seed int64, task, key string, variant int) (uint64, uint64) {
	h := sha256.New()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(seed))
	h.Write(buf[:])
	writeString(h, task)
	writeString(h, key)
	binary.LittleEndian.PutUint64(buf[:], uint64(int64(variant)))
	h.Write(buf[:])
	sum := h.Sum(nil)
	return binary.LittleEndian.Uint64(sum[0:8]), binary.LittleEndian.Uint64(sum[8:16])
}

// writeString writes a length-prefixed string so that ("ab","c") and ("a","bc")
// hash differently.
func writeString(h interface{ Write([]byte) (int, error) }, s string) {
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(len(s)))
	h.Write(buf[:])
	h.Write([]byte(s))
}
