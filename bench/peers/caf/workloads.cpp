// The workloads, in CAF 0.17. Every actor is an event-based actor
// (stateful_actor<State>) whose spawn function returns its behavior; main
// drives a run through a scoped_actor: it spawns the actors, sends the first
// message(s) and then receives the all-done / report messages the actors
// send it (with after(deadline) so that a run that never finishes fails
// cleanly instead of hanging: peer::result::timed_out).
//
// Timing: t0 is taken just before the first timed send (for spawn and
// skynet, before the spawning starts); t1 is taken by the actor that
// processes the last message and sent to main in its report, so the
// scoped_actor's wake-up is not timed. Setup (spawning, registering names,
// wiring the ring, joining the group) is not timed unless WORKLOADS.md says.
//
// Quiescence is detected with end-of-stream messages, not with expected
// counts: a sender sends done after its last message, and per-sender FIFO
// (CAF's ordering guarantee) makes the receiver's done count complete only
// when every message has been processed. These few bookkeeping messages
// (K or 2K per storm of 30M) are not counted in messages=.
//
// Chunking: the fan-in producers, the spawner and the publisher do their
// work 1000 items per turn, then message themselves to go on, as troupe's
// workloads do (and as a CAF actor should: one handler that loops for
// seconds would hold its worker thread that long).

#include "peer.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

using namespace caf;
using std::chrono::steady_clock;

namespace peer
{
namespace
{

using done_atom = atom_constant<atom("done")>;
using report_atom = atom_constant<atom("report")>;
using halt_atom = atom_constant<atom("halt")>;
using go_atom = atom_constant<atom("go")>;
using next_atom = atom_constant<atom("next")>;
using ack_atom = atom_constant<atom("ack")>;
using published_atom = atom_constant<atom("published")>;
using say_hello_atom = atom_constant<atom("say_hello")>;
using say_hi_atom = atom_constant<atom("say_hi")>;

constexpr uint64_t chunk = 1000;

// c * N(N+1)/2 mod 2^64 without losing the exact division.
uint64_t sum_to(uint64_t c, uint64_t n)
{
	if (n % 2 == 0)
		return c * (n / 2) * (n + 1);
	return c * n * ((n + 1) / 2);
}

double secs(uint64_t t0, uint64_t t1)
{
	return t1 > t0 ? double(t1 - t0) / 1e9 : 0.0;
}

// await(self, env, n, handlers...): receives n messages matching the
// handlers; false when the deadline passed first.
template <class... Fs>
bool await(scoped_actor &self, run_env &env, size_t n, Fs... fs)
{
	bool late = false;
	for (size_t i = 0; i < n && !late; ++i) {
		auto left = env.deadline - steady_clock::now();
		if (left < steady_clock::duration::zero())
			left = steady_clock::duration::zero();
		self->receive(
			fs..., after(std::chrono::duration_cast<
				       std::chrono::milliseconds>(left)) >>
				       [&] { late = true; });
	}
	return !late;
}

// --- storm and storm_private -------------------------------------------------

struct sink_state {
	uint64_t count = 0, sum = 0, dones = 0;
};

// A sink adds up what it gets; after `senders` done messages it reports
// (index, count, sum, t1) to main and quits.
behavior sink(stateful_actor<sink_state> *self, actor main, uint64_t idx,
	      uint64_t senders)
{
	return {
		[=](uint64_t n) {
			self->state.count++;
			self->state.sum += n;
		},
		[=](done_atom) {
			auto &st = self->state;
			if (++st.dones == senders) {
				self->send(main, report_atom::value, idx,
					   st.count, st.sum, now_ns());
				self->quit();
			}
		},
	};
}

struct counter_state {
	uint64_t processed = 0;
};

// A counter receiving n: 0 stops it (done to both sinks, its count to
// main); else n to both sinks and n-1 to itself.
behavior counter(stateful_actor<counter_state> *self, actor main, actor hello,
		 actor hi)
{
	return {
		[=](uint64_t n) {
			self->state.processed++;
			if (n == 0) {
				self->send(hello, done_atom::value);
				self->send(hi, done_atom::value);
				self->send(main, done_atom::value,
					   self->state.processed);
				self->quit();
				return;
			}
			self->send(hello, n);
			self->send(hi, n);
			self->send(self, n - 1);
		},
	};
}

// The storm's counter looks its sinks up by name in the actor registry.
behavior named_counter(stateful_actor<counter_state> *self, actor main)
{
	auto &reg = self->system().registry();
	return counter(self, std::move(main),
		       reg.get<actor>(say_hello_atom::value),
		       reg.get<actor>(say_hi_atom::value));
}

result run_storm_any(run_env &env, const std::vector<uint64_t> &v, bool shared)
{
	const char *name = shared ? "storm" : "storm_private";
	uint64_t k = v[0], n = v[1];
	auto &sys = env.sys;
	scoped_actor self{ sys };
	actor main = self;
	std::vector<actor> counters;
	counters.reserve(k);
	size_t nsinks = shared ? 2 : 2 * k;
	if (shared) {
		sys.registry().put(say_hello_atom::value,
				   sys.spawn(sink, main, 0, k));
		sys.registry().put(say_hi_atom::value,
				   sys.spawn(sink, main, 1, k));
		for (uint64_t i = 0; i < k; ++i)
			counters.push_back(sys.spawn(named_counter, main));
	} else {
		for (uint64_t i = 0; i < k; ++i) {
			auto hello =
				sys.spawn(sink, main, 2 * i, uint64_t{ 1 });
			auto hi =
				sys.spawn(sink, main, 2 * i + 1, uint64_t{ 1 });
			counters.push_back(sys.spawn(counter, main, hello, hi));
		}
	}
	uint64_t processed = 0, t1 = 0, c = shared ? k : 1;
	bool ok = true;
	uint64_t t0 = now_ns();
	for (auto &ctr : counters)
		self->send(ctr, n);
	counters.clear();
	bool done = await(
		self, env, k + nsinks,
		[&](done_atom, uint64_t p) { processed += p; },
		[&](report_atom, uint64_t idx, uint64_t count, uint64_t sum,
		    uint64_t t) {
			t1 = std::max(t1, t);
			if (count != c * n || sum != sum_to(c, n))
				ok = checkf(
					name,
					"sink %llu got %llu messages summing to %llu, expected "
					"%llu summing to %llu",
					(unsigned long long)idx,
					(unsigned long long)count,
					(unsigned long long)sum,
					(unsigned long long)(c * n),
					(unsigned long long)sum_to(c, n));
		});
	result r;
	r.messages = k * (3 * n + 1);
	r.seconds = secs(t0, t1);
	if (!done) {
		r.timed_out = true;
		return r;
	}
	if (shared) {
		sys.registry().erase(say_hello_atom::value);
		sys.registry().erase(say_hi_atom::value);
	}
	if (processed != k * (n + 1))
		ok = checkf(name, "counters processed %llu, expected %llu",
			    (unsigned long long)processed,
			    (unsigned long long)(k * (n + 1)));
	r.ok = ok;
	return r;
}

// --- pingpong ------------------------------------------------------------------

// The log-linear latency histogram of bench/bench_util.h (as in the Go
// peer): values below 16 have a bucket each; above, each power of two is
// split in 16 buckets. Quantiles read a bucket's upper bound.
struct hist {
	static constexpr unsigned sub_bits = 4;
	uint64_t count = 0, max = 0;
	std::array<uint64_t, (64 - sub_bits + 1) << sub_bits> buckets{};

	void record(uint64_t v)
	{
		uint64_t idx;
		if (v < (1u << sub_bits)) {
			idx = v;
		} else {
			uint64_t msb = 63 - __builtin_clzll(v);
			uint64_t sub = (v >> (msb - sub_bits)) &
				       ((1u << sub_bits) - 1);
			idx = ((msb - sub_bits + 1) << sub_bits) + sub;
		}
		buckets[idx]++;
		count++;
		max = std::max(max, v);
	}
	static uint64_t upper(uint64_t idx)
	{
		if (idx < (1u << sub_bits))
			return idx;
		uint64_t msb = (idx >> sub_bits) + sub_bits - 1;
		uint64_t sub = idx & ((1u << sub_bits) - 1);
		uint64_t width = uint64_t{ 1 } << (msb - sub_bits);
		return ((1u << sub_bits) + sub) * width + width - 1;
	}
	uint64_t quantile(double q) const
	{
		if (count == 0)
			return 0;
		auto rank =
			static_cast<uint64_t>(q * double(count) + 0.999999999);
		if (rank < 1)
			rank = 1;
		uint64_t seen = 0;
		for (size_t i = 0; i < buckets.size(); ++i) {
			seen += buckets[i];
			if (seen >= rank)
				return std::min(upper(i), max);
		}
		return max;
	}
};

struct pong_state {
	uint64_t seen = 0, bad = 0;
};

// pong returns each ball (seq, sent_ns) to its sender.
behavior pong(stateful_actor<pong_state> *self, actor main)
{
	return {
		[=](uint64_t seq, uint64_t sent) {
			auto &st = self->state;
			if (seq != ++st.seen)
				st.bad++;
			return std::make_tuple(seq, sent);
		},
		[=](halt_atom) {
			self->send(main, report_atom::value, self->state.seen,
				   self->state.bad);
			self->quit();
		},
	};
}

struct ping_state {
	uint64_t seen = 0, bad = 0, t0 = 0;
	hist h;
};

// ping serves the ball, then counts each round trip and records its
// latency; after p it reports (t0, t1, seen, bad, samples, p50, p99,
// p99.9, max) to main.
behavior ping(stateful_actor<ping_state> *self, actor main, actor pong_actor,
	      uint64_t p)
{
	return {
		[=](go_atom) {
			self->state.t0 = now_ns();
			self->send(pong_actor, uint64_t{ 1 }, self->state.t0);
		},
		[=](uint64_t seq, uint64_t sent) {
			auto &st = self->state;
			uint64_t now = now_ns();
			st.h.record(now - sent);
			if (seq != ++st.seen)
				st.bad++;
			if (st.seen == p) {
				self->send(pong_actor, halt_atom::value);
				self->send(main, done_atom::value, st.t0, now,
					   st.seen, st.bad, st.h.count,
					   st.h.quantile(0.50),
					   st.h.quantile(0.99),
					   st.h.quantile(0.999), st.h.max);
				self->quit();
				return;
			}
			self->send(pong_actor, seq + 1, now);
		},
	};
}

// --- ring ------------------------------------------------------------------------

struct ring_state {
	actor next;
	uint64_t hops = 0, last = 0, zeros = 0, bad = 0;
};

// A ring node passes the token on one lower; at 0 it tells main
// (index, t1). main wires the ring with next messages (acked) first and
// collects every node's counts with halt after the run.
behavior ring_node(stateful_actor<ring_state> *self, actor main, uint64_t idx)
{
	return {
		[=](next_atom, actor next) {
			self->state.next = std::move(next);
			return ack_atom::value;
		},
		[=](uint64_t tok) {
			auto &st = self->state;
			// Each lap brings the token back R lower.
			if (st.last != 0 && tok >= st.last - 1)
				st.bad++;
			st.last = tok + 1;
			if (tok == 0) {
				st.zeros++;
				self->send(main, done_atom::value, idx,
					   now_ns());
				return;
			}
			st.hops++;
			self->send(st.next, tok - 1);
		},
		[=](halt_atom) {
			auto &st = self->state;
			self->send(main, report_atom::value, st.hops, st.zeros,
				   st.bad);
			st.next = actor{}; // break the ring's reference cycle
			self->quit();
		},
	};
}

// --- fanin ------------------------------------------------------------------------

constexpr uint64_t producers = 4;

struct producer_state {
	uint64_t next = 1;
};

// A producer sends (its index, i) for i = 1..m to the consumer, chunk per
// turn, then done.
behavior producer(stateful_actor<producer_state> *self, actor consumer,
		  uint64_t from, uint64_t m)
{
	return {
		[=](go_atom) {
			auto &st = self->state;
			uint64_t end = std::min(m, st.next + chunk - 1);
			for (; st.next <= end; ++st.next)
				self->send(consumer, from, st.next);
			if (st.next > m) {
				self->send(consumer, done_atom::value);
				self->quit();
			} else {
				self->send(self, go_atom::value);
			}
		},
	};
}

struct consumer_state {
	uint64_t count = 0, sum = 0, bad = 0, dones = 0;
	std::array<uint64_t, producers> next{};
};

behavior consumer(stateful_actor<consumer_state> *self, actor main)
{
	return {
		[=](uint64_t from, uint64_t n) {
			auto &st = self->state;
			st.count++;
			st.sum += n;
			if (from >= producers ||
			    n != ++st.next[from]) // per-sender order
				st.bad++;
		},
		[=](done_atom) {
			auto &st = self->state;
			if (++st.dones == producers) {
				self->send(main, report_atom::value, st.count,
					   st.sum, st.bad, now_ns());
				self->quit();
			}
		},
	};
}

// --- spawn ------------------------------------------------------------------------

// A child gets one message, sends it to the collector and quits.
behavior child(event_based_actor *self, actor collector)
{
	return {
		[=](uint64_t i) {
			self->send(collector, i);
			self->quit();
		},
	};
}

struct spawner_state {
	uint64_t next = 0;
};

// The spawner creates children chunk per turn and sends each its ordinal.
behavior spawner(stateful_actor<spawner_state> *self, actor collector,
		 uint64_t n)
{
	return {
		[=](go_atom) {
			auto &st = self->state;
			uint64_t end = std::min(n, st.next + chunk);
			for (; st.next < end; ++st.next) {
				auto c = self->spawn(child, collector);
				self->send(c, st.next);
			}
			if (st.next < n)
				self->send(self, go_atom::value);
			else
				self->quit();
		},
	};
}

struct collector_state {
	uint64_t count = 0, sum = 0;
};

// The collector reports (count, sum, t1) to main after n replies.
behavior collector(stateful_actor<collector_state> *self, actor main,
		   uint64_t n)
{
	return {
		[=](uint64_t i) {
			auto &st = self->state;
			st.count++;
			st.sum += i;
			if (st.count == n) {
				self->send(main, report_atom::value, st.count,
					   st.sum, now_ns());
				self->quit();
			}
		},
	};
}

// --- pubsub -----------------------------------------------------------------------

struct subscriber_state {
	uint64_t count = 0, sum = 0, last = 0, bad = 0;
};

// A subscriber joins the group (and acks to main), adds up what is
// published, and at done reports (count, sum, bad, t1) to main.
behavior subscriber(stateful_actor<subscriber_state> *self, actor main, group g)
{
	self->join(g);
	self->send(main, ack_atom::value);
	return {
		[=](uint64_t x) {
			auto &st = self->state;
			st.count++;
			st.sum += x;
			if (x != st.last + 1)
				st.bad++;
			st.last = x;
		},
		[=](done_atom) {
			auto &st = self->state;
			self->send(main, report_atom::value, st.count, st.sum,
				   st.bad, now_ns());
			self->leave(g);
			self->quit();
		},
	};
}

struct publisher_state {
	uint64_t next = 1;
};

// The publisher sends 1..m to the group, chunk per turn, then done; it
// tells main when it published the last one.
behavior publisher(stateful_actor<publisher_state> *self, actor main, group g,
		   uint64_t m)
{
	return {
		[=](go_atom) {
			auto &st = self->state;
			uint64_t end = std::min(m, st.next + chunk - 1);
			for (; st.next <= end; ++st.next)
				self->send(g, st.next);
			if (st.next > m) {
				self->send(g, done_atom::value);
				self->send(main, published_atom::value,
					   now_ns());
				self->quit();
			} else {
				self->send(self, go_atom::value);
			}
		},
	};
}

// --- skynet -----------------------------------------------------------------------

constexpr uint64_t fanout = 10;

struct skynet_state {
	uint64_t sum = 0, got = 0;
};

// A node of `size` leaves: a leaf replies its ordinal and quits; an inner
// node spawns 10 children, sums their replies and sends the sum up.
behavior skynet_node(stateful_actor<skynet_state> *self, actor parent,
		     uint64_t num, uint64_t size)
{
	if (size == 1) {
		self->send(parent, num);
		self->quit();
		return {};
	}
	uint64_t sub = size / fanout;
	actor me = actor_cast<actor>(self);
	for (uint64_t i = 0; i < fanout; ++i)
		self->spawn(skynet_node, me, num + i * sub, sub);
	return {
		[=](uint64_t x) {
			auto &st = self->state;
			st.sum += x;
			if (++st.got == fanout) {
				self->send(parent, st.sum);
				self->quit();
			}
		},
	};
}

} // namespace

result run_storm(run_env &env, const std::vector<uint64_t> &v)
{
	return run_storm_any(env, v, true);
}

result run_storm_private(run_env &env, const std::vector<uint64_t> &v)
{
	return run_storm_any(env, v, false);
}

result run_pingpong(run_env &env, const std::vector<uint64_t> &v)
{
	uint64_t p = v[0];
	scoped_actor self{ env.sys };
	actor main = self;
	auto po = env.sys.spawn(pong, main);
	auto pi = env.sys.spawn(ping, main, po, p);
	self->send(pi, go_atom::value); // ping takes t0 as it serves
	uint64_t t0 = 0, t1 = 0, seen = 0, bad = 0, samples = 0, p50 = 0,
		 p99 = 0, p999 = 0, mx = 0, pong_seen = 0, pong_bad = 0;
	bool done = await(
		self, env, 2,
		[&](done_atom, uint64_t a, uint64_t b, uint64_t c, uint64_t d,
		    uint64_t e, uint64_t f, uint64_t g, uint64_t h,
		    uint64_t i) {
			t0 = a, t1 = b, seen = c, bad = d, samples = e;
			p50 = f, p99 = g, p999 = h, mx = i;
		},
		[&](report_atom, uint64_t s, uint64_t b) {
			pong_seen = s, pong_bad = b;
		});
	result r;
	r.messages = 2 * p;
	r.items = p;
	r.seconds = secs(t0, t1);
	if (!done) {
		r.timed_out = true;
		return r;
	}
	if (seen != p || pong_seen != p || bad != 0 || pong_bad != 0 ||
	    samples != p)
		r.ok = checkf(
			"pingpong",
			"ping saw %llu (%llu bad), pong %llu (%llu bad), %llu "
			"samples; expected %llu",
			(unsigned long long)seen, (unsigned long long)bad,
			(unsigned long long)pong_seen,
			(unsigned long long)pong_bad,
			(unsigned long long)samples, (unsigned long long)p);
	char buf[160];
	std::snprintf(buf, sizeof buf,
		      "p50_ns=%llu p99_ns=%llu p999_ns=%llu max_ns=%llu",
		      (unsigned long long)p50, (unsigned long long)p99,
		      (unsigned long long)p999, (unsigned long long)mx);
	r.extra = buf;
	return r;
}

result run_ring(run_env &env, const std::vector<uint64_t> &v)
{
	uint64_t rn = v[0], t = v[1];
	scoped_actor self{ env.sys };
	actor main = self;
	std::vector<actor> nodes;
	nodes.reserve(rn);
	for (uint64_t i = 0; i < rn; ++i)
		nodes.push_back(env.sys.spawn(ring_node, main, i));
	for (uint64_t i = 0; i < rn; ++i)
		self->send(nodes[i], next_atom::value, nodes[(i + 1) % rn]);
	result r;
	r.messages = t + 1;
	r.items = t;
	if (!await(self, env, rn, [&](ack_atom) {})) {
		r.timed_out = true;
		return r;
	}
	uint64_t last = 0, t1 = 0;
	uint64_t t0 = now_ns();
	self->send(nodes[0], t);
	if (!await(self, env, 1, [&](done_atom, uint64_t idx, uint64_t t) {
		    last = idx, t1 = t;
	    })) {
		r.timed_out = true;
		return r;
	}
	r.seconds = secs(t0, t1);
	for (auto &nd : nodes)
		self->send(nd, halt_atom::value);
	nodes.clear();
	uint64_t hops = 0, zeros = 0, bad = 0;
	if (!await(self, env, rn,
		   [&](report_atom, uint64_t h, uint64_t z, uint64_t b) {
			   hops += h, zeros += z, bad += b;
		   })) {
		r.timed_out = true;
		return r;
	}
	if (hops != t || zeros != 1 || bad != 0 || last != t % rn)
		r.ok = checkf(
			"ring",
			"%llu hops (expected %llu), %llu zeros, %llu out of order, "
			"stopped at %llu (expected %llu)",
			(unsigned long long)hops, (unsigned long long)t,
			(unsigned long long)zeros, (unsigned long long)bad,
			(unsigned long long)last, (unsigned long long)(t % rn));
	return r;
}

result run_fanin(run_env &env, const std::vector<uint64_t> &v)
{
	uint64_t m = v[0];
	scoped_actor self{ env.sys };
	actor main = self;
	auto cons = env.sys.spawn(consumer, main);
	std::vector<actor> prods;
	for (uint64_t p = 0; p < producers; ++p)
		prods.push_back(env.sys.spawn(producer, cons, p, m));
	uint64_t count = 0, sum = 0, bad = 0, t1 = 0;
	uint64_t t0 = now_ns();
	for (auto &p : prods)
		self->send(p, go_atom::value);
	prods.clear();
	bool done =
		await(self, env, 1,
		      [&](report_atom, uint64_t c, uint64_t s, uint64_t b,
			  uint64_t t) { count = c, sum = s, bad = b, t1 = t; });
	result r;
	r.messages = producers * m;
	r.seconds = secs(t0, t1);
	if (!done) {
		r.timed_out = true;
		return r;
	}
	if (count != producers * m || sum != sum_to(producers, m) || bad != 0)
		r.ok = checkf(
			"fanin",
			"consumer got %llu summing to %llu (%llu out of order), "
			"expected %llu summing to %llu",
			(unsigned long long)count, (unsigned long long)sum,
			(unsigned long long)bad,
			(unsigned long long)(producers * m),
			(unsigned long long)sum_to(producers, m));
	return r;
}

result run_spawn(run_env &env, const std::vector<uint64_t> &v)
{
	uint64_t n = v[0];
	scoped_actor self{ env.sys };
	actor main = self;
	auto coll = env.sys.spawn(collector, main, n);
	auto sp = env.sys.spawn(spawner, coll, n);
	coll = actor{};
	uint64_t count = 0, sum = 0, t1 = 0;
	uint64_t t0 = now_ns();
	self->send(sp, go_atom::value);
	sp = actor{};
	bool done = await(self, env, 1,
			  [&](report_atom, uint64_t c, uint64_t s, uint64_t t) {
				  count = c, sum = s, t1 = t;
			  });
	result r;
	r.messages = 2 * n;
	r.items = n;
	r.seconds = secs(t0, t1);
	if (!done) {
		r.timed_out = true;
		return r;
	}
	uint64_t want = n > 0 ? sum_to(1, n - 1) : 0;
	if (count != n || sum != want)
		r.ok = checkf(
			"spawn",
			"collector got %llu replies summing to %llu, expected %llu "
			"summing to %llu",
			(unsigned long long)count, (unsigned long long)sum,
			(unsigned long long)n, (unsigned long long)want);
	return r;
}

result run_pubsub(run_env &env, const std::vector<uint64_t> &v)
{
	uint64_t s = v[0], m = v[1];
	scoped_actor self{ env.sys };
	actor main = self;
	// The exchange: CAF's local group named "pubsub"; a publish is one send
	// to the group, which delivers a (shared, copy-on-write) copy to each.
	auto g = env.sys.groups().get_local("pubsub");
	for (uint64_t i = 0; i < s; ++i)
		env.sys.spawn(subscriber, main, g);
	result r;
	r.messages = s * m;
	if (!await(self, env, s, [&](ack_atom) {})) {
		r.timed_out = true;
		return r;
	}
	auto pub = env.sys.spawn(publisher, main, g, m);
	uint64_t t1 = 0, pub_end = 0, i = 0;
	uint64_t t0 = now_ns();
	self->send(pub, go_atom::value);
	pub = actor{};
	bool done = await(
		self, env, s + 1,
		[&](published_atom, uint64_t t) { pub_end = t; },
		[&](report_atom, uint64_t c, uint64_t sum, uint64_t b,
		    uint64_t t) {
			t1 = std::max(t1, t);
			if (c != m || sum != sum_to(1, m) || b != 0)
				r.ok = checkf(
					"pubsub",
					"subscriber %llu got %llu summing to %llu (%llu out of "
					"order), expected %llu summing to %llu",
					(unsigned long long)i,
					(unsigned long long)c,
					(unsigned long long)sum,
					(unsigned long long)b,
					(unsigned long long)m,
					(unsigned long long)sum_to(1, m));
			i++;
		});
	r.seconds = secs(t0, t1);
	if (!done) {
		r.timed_out = true;
		return r;
	}
	char buf[64];
	std::snprintf(buf, sizeof buf, "publish_ns=%.0f",
		      pub_end > t0 ? double(pub_end - t0) / double(m) : 0.0);
	r.extra = buf;
	return r;
}

result run_skynet(run_env &env, const std::vector<uint64_t> &v)
{
	uint64_t depth = v[0];
	uint64_t leaves = 1, actors = 1;
	for (uint64_t i = 0; i < depth; ++i) {
		leaves *= fanout;
		actors += leaves;
	}
	scoped_actor self{ env.sys };
	actor main = self;
	uint64_t total = 0;
	uint64_t t0 = now_ns();
	env.sys.spawn(skynet_node, main, uint64_t{ 0 }, leaves);
	bool done = await(self, env, 1, [&](uint64_t x) { total = x; });
	uint64_t t1 = now_ns();
	result r;
	r.messages = actors - 1;
	r.items = actors;
	r.seconds = secs(t0, t1);
	if (!done) {
		r.timed_out = true;
		return r;
	}
	uint64_t want = leaves * (leaves - 1) / 2;
	if (total != want)
		r.ok = checkf("skynet", "root total %llu, expected %llu",
			      (unsigned long long)total,
			      (unsigned long long)want);
	char buf[96];
	std::snprintf(buf, sizeof buf, "actors=%llu total=%llu",
		      (unsigned long long)actors, (unsigned long long)total);
	r.extra = buf;
	return r;
}

} // namespace peer
