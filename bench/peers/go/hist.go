package main

import "math/bits"

// hist is the log-linear latency histogram of bench/bench_util.h, ported:
// values below 16 have a bucket each; above, each power of two is split in
// 16 equal buckets (<= 6.25% wide). Quantiles read a bucket's upper bound.
const histSubBits = 4

type hist struct {
	count, max uint64
	buckets    [(64 - histSubBits + 1) << histSubBits]uint64
}

func (h *hist) record(v uint64) {
	var idx uint64
	if v < 1<<histSubBits {
		idx = v
	} else {
		msb := uint64(63 - bits.LeadingZeros64(v))
		sub := (v >> (msb - histSubBits)) & (1<<histSubBits - 1)
		idx = (msb-histSubBits+1)<<histSubBits + sub
	}
	h.buckets[idx]++
	h.count++
	if v > h.max {
		h.max = v
	}
}

func upper(idx uint64) uint64 {
	if idx < 1<<histSubBits {
		return idx
	}
	msb := idx>>histSubBits + histSubBits - 1
	sub := idx & (1<<histSubBits - 1)
	width := uint64(1) << (msb - histSubBits)
	return (1<<histSubBits+sub)*width + width - 1
}

func (h *hist) quantile(q float64) uint64 {
	if h.count == 0 {
		return 0
	}
	rank := uint64(q*float64(h.count) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			u := upper(uint64(i))
			if u > h.max {
				u = h.max
			}
			return u
		}
	}
	return h.max
}
