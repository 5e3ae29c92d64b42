package main

// The workloads. Each goroutine is an actor; its channel is its mailbox.
// Timing starts at the first send and stops when the last message has been
// processed (all counters/producers done and every sink drained, or the
// all-done signal); tearing the goroutines down afterwards is not timed.
// Every goroutine's state is read by the check only after a WaitGroup or
// channel receive has ordered its writes before the read.
//
// Channel buffer sizes (Go users buffer mailboxes; an unbuffered channel
// turns every send into a rendezvous, measuring goroutine handoffs rather
// than message passing, and makes self-sends deadlock):
//   - sinkBuf = 1024 for the shared sinks, the fan-in consumer and the
//     spawn collector: many senders into one receiver. Large enough that
//     senders rarely block on a momentarily slow receiver (blocking parks
//     the goroutine: a scheduler round trip per message), small enough to
//     stay in cache (8 KiB of int64). Larger buffers did not help here.
//   - privBuf = 256 for storm_private's per-counter sinks and for pubsub's
//     subscribers: one sender each, and there are thousands (storm_private)
//     or the publisher writes all of them in turn (pubsub); 256 lets the
//     sender run ahead a while without 2K * 8 KiB of buffers.
//   - 1 for a mailbox that never holds more than one message (a counter's
//     self-send, the pingpong ball, the ring token, a spawned child's one
//     message): the send never blocks, as an actor's send would not.
//   - skynet: a parent's reply channel holds its 10 children's replies
//     (buffer 10), so a child exits as soon as it has replied.

import (
	"fmt"
	"sync"
)

const (
	sinkBuf = 1024
	privBuf = 256
)

type sink struct {
	count, sum uint64 // sum mod 2^64, like the expected value
	_          [48]byte
}

func sinkLoop(in <-chan int64, s *sink, wg *sync.WaitGroup) {
	for n := range in {
		s.count++
		s.sum += uint64(n)
	}
	wg.Done()
}

// counter: on n > 0 sends n to both sinks and n-1 to itself; stops at 0.
func counterLoop(in chan int64, hello, hi chan<- int64, processed *uint64, wg *sync.WaitGroup) {
	for n := range in {
		*processed++
		if n == 0 {
			break
		}
		hello <- n
		hi <- n
		in <- n - 1
	}
	wg.Done()
}

type counterState struct {
	processed uint64
	_         [56]byte
}

// sumTo returns c * N(N+1)/2 mod 2^64 without losing the exact division.
func sumTo(c, n uint64) uint64 {
	if n%2 == 0 {
		return c * (n / 2) * (n + 1)
	}
	return c * n * ((n + 1) / 2)
}

func runStorm(v []uint64) result {
	k, n := v[0], v[1]
	// The registry: names to mailboxes, built before the run.
	registry := map[string]chan int64{
		"say_hello": make(chan int64, sinkBuf),
		"say_hi":    make(chan int64, sinkBuf),
	}
	sinks := make([]sink, 2)
	var sinkWG, cWG sync.WaitGroup
	sinkWG.Add(2)
	go sinkLoop(registry["say_hello"], &sinks[0], &sinkWG)
	go sinkLoop(registry["say_hi"], &sinks[1], &sinkWG)

	states := make([]counterState, k)
	inboxes := make([]chan int64, k)
	cWG.Add(int(k))
	for i := range inboxes {
		inboxes[i] = make(chan int64, 1)
		// Each counter looks its sinks up by name.
		go counterLoop(inboxes[i], registry["say_hello"], registry["say_hi"], &states[i].processed, &cWG)
	}
	t0 := nowNs()
	for i := range inboxes {
		inboxes[i] <- int64(n)
	}
	cWG.Wait()
	close(registry["say_hello"])
	close(registry["say_hi"])
	sinkWG.Wait()
	t1 := nowNs()
	r := result{messages: k * (3*n + 1), seconds: float64(t1-t0) / 1e9, ok: true}
	r.ok = checkSinks("storm", k, n, states, sinks, k)
	return r
}

func runStormPrivate(v []uint64) result {
	k, n := v[0], v[1]
	sinks := make([]sink, 2*k)
	states := make([]counterState, k)
	inboxes := make([]chan int64, k)
	var sinkWG, cWG sync.WaitGroup
	sinkWG.Add(int(2 * k))
	cWG.Add(int(k))
	sinkChans := make([]chan int64, 2*k)
	for i := range sinkChans {
		sinkChans[i] = make(chan int64, privBuf)
		go sinkLoop(sinkChans[i], &sinks[i], &sinkWG)
	}
	for i := range inboxes {
		inboxes[i] = make(chan int64, 1)
		go counterLoop(inboxes[i], sinkChans[2*i], sinkChans[2*i+1], &states[i].processed, &cWG)
	}
	t0 := nowNs()
	for i := range inboxes {
		inboxes[i] <- int64(n)
	}
	cWG.Wait()
	for _, c := range sinkChans {
		close(c)
	}
	sinkWG.Wait()
	t1 := nowNs()
	r := result{messages: k * (3*n + 1), seconds: float64(t1-t0) / 1e9}
	r.ok = checkSinks("storm_private", k, n, states, sinks, 1)
	return r
}

// checkSinks: counters processed K(N+1); each sink got c*N messages
// summing to c*N(N+1)/2 (c = K shared, 1 private).
func checkSinks(w string, k, n uint64, states []counterState, sinks []sink, c uint64) bool {
	ok := true
	var total uint64
	for i := range states {
		total += states[i].processed
	}
	if total != k*(n+1) {
		ok = checkf(w, "counters processed %d, expected %d", total, k*(n+1))
	}
	for i := range sinks {
		if sinks[i].count != c*n || sinks[i].sum != sumTo(c, n) {
			ok = checkf(w, "sink %d got %d messages summing to %d, expected %d summing to %d",
				i, sinks[i].count, sinks[i].sum, c*n, sumTo(c, n))
		}
	}
	return ok
}

type ball struct {
	seq, sentNs uint64
}

func runPingpong(v []uint64) result {
	p := v[0]
	toPong := make(chan ball, 1)
	toPing := make(chan ball, 1)
	var pongSeen, pongBad, pingSeen, pingBad uint64
	h := &hist{}
	done := make(chan struct{})
	go func() { // pong: returns each ball
		for b := range toPong {
			pongSeen++
			if b.seq != pongSeen {
				pongBad++
			}
			toPing <- b
		}
		close(done)
	}()
	finished := make(chan struct{})
	go func() { // ping: counts a round trip, records its latency, serves again
		for b := range toPing {
			now := nowNs()
			h.record(now - b.sentNs)
			pingSeen++
			if b.seq != pingSeen {
				pingBad++
			}
			if pingSeen == p {
				break
			}
			toPong <- ball{b.seq + 1, now}
		}
		close(finished)
	}()
	t0 := nowNs()
	toPong <- ball{1, t0}
	<-finished
	t1 := nowNs()
	close(toPong)
	<-done
	r := result{messages: 2 * p, items: p, seconds: float64(t1-t0) / 1e9, ok: true}
	if pingSeen != p || pongSeen != p || pingBad != 0 || pongBad != 0 || h.count != p {
		r.ok = checkf("pingpong", "ping saw %d (%d bad), pong %d (%d bad), %d samples; expected %d",
			pingSeen, pingBad, pongSeen, pongBad, h.count, p)
	}
	r.extra = fmt.Sprintf("p50_ns=%d p99_ns=%d p999_ns=%d max_ns=%d",
		h.quantile(0.50), h.quantile(0.99), h.quantile(0.999), h.max)
	return r
}

type ringNode struct {
	hops, last, zeros, bad uint64
	_                      [32]byte
}

func runRing(v []uint64) result {
	r, t := v[0], v[1]
	nodes := make([]ringNode, r)
	chans := make([]chan uint64, r)
	for i := range chans {
		chans[i] = make(chan uint64, 1)
	}
	done := make(chan uint64, 1)
	var wg sync.WaitGroup
	wg.Add(int(r))
	for i := range chans {
		go func(i int) {
			nd := &nodes[i]
			next := chans[(i+1)%len(chans)]
			for tok := range chans[i] {
				// Each lap brings the token back R lower.
				if nd.last != 0 && tok >= nd.last-1 {
					nd.bad++
				}
				nd.last = tok + 1
				if tok == 0 {
					nd.zeros++
					done <- uint64(i)
					continue
				}
				nd.hops++
				next <- tok - 1
			}
			wg.Done()
		}(i)
	}
	t0 := nowNs()
	chans[0] <- t
	last := <-done
	t1 := nowNs()
	for _, c := range chans {
		close(c)
	}
	wg.Wait()
	res := result{messages: t + 1, items: t, seconds: float64(t1-t0) / 1e9, ok: true}
	var hops, zeros, bad uint64
	for i := range nodes {
		hops += nodes[i].hops
		zeros += nodes[i].zeros
		bad += nodes[i].bad
	}
	if hops != t || zeros != 1 || bad != 0 || last != t%r {
		res.ok = checkf("ring", "%d hops (expected %d), %d zeros, %d out of order, stopped at %d (expected %d)",
			hops, t, zeros, bad, last, t%r)
	}
	return res
}

const producers = 4

type item struct {
	from int
	n    uint64
}

func runFanin(v []uint64) result {
	m := v[0]
	in := make(chan item, sinkBuf)
	var count, sum, bad uint64
	var next [producers]uint64
	consumed := make(chan struct{})
	go func() {
		for it := range in {
			count++
			sum += it.n
			next[it.from]++
			if it.n != next[it.from] { // per-sender order
				bad++
			}
		}
		close(consumed)
	}()
	var wg sync.WaitGroup
	wg.Add(producers)
	start := make(chan struct{})
	for p := 0; p < producers; p++ {
		go func(p int) {
			<-start
			for i := uint64(1); i <= m; i++ {
				in <- item{p, i}
			}
			wg.Done()
		}(p)
	}
	t0 := nowNs()
	close(start)
	wg.Wait()
	close(in)
	<-consumed
	t1 := nowNs()
	r := result{messages: producers * m, seconds: float64(t1-t0) / 1e9, ok: true}
	if count != producers*m || sum != sumTo(producers, m) || bad != 0 {
		r.ok = checkf("fanin", "consumer got %d summing to %d (%d out of order), expected %d summing to %d",
			count, sum, bad, producers*m, sumTo(producers, m))
	}
	return r
}

func runSpawn(v []uint64) result {
	n := v[0]
	collector := make(chan uint64, sinkBuf)
	var count, sum uint64
	collected := make(chan struct{})
	go func() {
		for i := range collector {
			count++
			sum += i
		}
		close(collected)
	}()
	var wg sync.WaitGroup
	t0 := nowNs()
	wg.Add(int(n))
	go func() { // the spawner
		for i := uint64(0); i < n; i++ {
			mb := make(chan uint64, 1)
			go func(mb chan uint64) { // a child: one message, one reply, exit
				collector <- <-mb
				wg.Done()
			}(mb)
			mb <- i
		}
	}()
	wg.Wait()
	close(collector)
	<-collected
	t1 := nowNs()
	r := result{messages: 2 * n, items: n, seconds: float64(t1-t0) / 1e9, ok: true}
	want := uint64(0)
	if n > 0 {
		want = sumTo(1, n-1)
	}
	if count != n || sum != want {
		r.ok = checkf("spawn", "collector got %d replies summing to %d, expected %d summing to %d",
			count, sum, n, want)
	}
	return r
}

type subscriber struct {
	count, sum, last, bad uint64
	_                     [32]byte
}

func runPubsub(v []uint64) result {
	s, m := v[0], v[1]
	// The exchange: a name mapped to its subscribers' mailboxes, built
	// before the run; publishing sends one copy to each.
	exchanges := map[string][]chan int64{}
	subs := make([]subscriber, s)
	var wg sync.WaitGroup
	wg.Add(int(s))
	for i := uint64(0); i < s; i++ {
		c := make(chan int64, privBuf)
		exchanges["pubsub"] = append(exchanges["pubsub"], c)
		go func(sub *subscriber, c chan int64) {
			for x := range c {
				sub.count++
				sub.sum += uint64(x)
				if uint64(x) != sub.last+1 {
					sub.bad++
				}
				sub.last = uint64(x)
			}
			wg.Done()
		}(&subs[i], c)
	}
	pubDone := make(chan uint64)
	t0 := nowNs()
	go func() { // the publisher
		ex := exchanges["pubsub"]
		for x := int64(1); x <= int64(m); x++ {
			for _, c := range ex {
				c <- x
			}
		}
		pubDone <- nowNs()
	}()
	pubEnd := <-pubDone
	for _, c := range exchanges["pubsub"] {
		close(c)
	}
	wg.Wait()
	t1 := nowNs()
	r := result{messages: s * m, seconds: float64(t1-t0) / 1e9, ok: true}
	for i := range subs {
		if subs[i].count != m || subs[i].sum != sumTo(1, m) || subs[i].bad != 0 {
			r.ok = checkf("pubsub", "subscriber %d got %d summing to %d (%d out of order), expected %d summing to %d",
				i, subs[i].count, subs[i].sum, subs[i].bad, m, sumTo(1, m))
		}
	}
	r.extra = fmt.Sprintf("publish_ns=%.0f", float64(pubEnd-t0)/float64(m))
	return r
}

const fanout = 10

// skynetNode is the classic Go skynet: spawn 10 children sharing one reply
// channel, sum their replies, send the sum up.
func skynetNode(parent chan<- uint64, num, size uint64) {
	if size == 1 {
		parent <- num
		return
	}
	replies := make(chan uint64, fanout)
	child := size / fanout
	for i := uint64(0); i < fanout; i++ {
		go skynetNode(replies, num+i*child, child)
	}
	var sum uint64
	for i := 0; i < fanout; i++ {
		sum += <-replies
	}
	parent <- sum
}

func runSkynet(v []uint64) result {
	depth := v[0]
	leaves, actors := uint64(1), uint64(1)
	for i := uint64(0); i < depth; i++ {
		leaves *= fanout
		actors += leaves
	}
	root := make(chan uint64, 1)
	t0 := nowNs()
	go skynetNode(root, 0, leaves)
	total := <-root
	t1 := nowNs()
	r := result{messages: actors - 1, items: actors, seconds: float64(t1-t0) / 1e9, ok: true}
	want := leaves * (leaves - 1) / 2
	if total != want {
		r.ok = checkf("skynet", "root total %d, expected %d", total, want)
	}
	r.extra = fmt.Sprintf("actors=%d total=%d", actors, total)
	return r
}
