/*
 * tests/api/port.c - ports (troupe/port.h) as an event loop sees them: the
 * test thread is the loop and drains the port itself.
 *
 * Covered: bad arguments; fd readiness (not readable when idle, readable
 * after the first send, one signal for a burst, signalled again when a
 * drain stops at its budget, idle again once drained, edge-triggered
 * epoll sees every re-signal); sends from outside threads and from event
 * actors (per-sender order); trp_register + trp_send_named; exchange
 * attach + publish and publish_n; trp_ask answered in the handler,
 * unanswered (TRP_ENOREPLY), taken and answered later on the loop thread
 * (inside a later drain and outside any drain), refused from another
 * thread (TRP_EPERM); trp_monitor on a port and close with mail pending
 * (handled first, then DOWN(TRP_STOP_CLOSED), then TRP_ECLOSED; later
 * sends TRP_EDEAD); kill with mail pending (dead letters, DOWN(killed),
 * asks answered TRP_EDEAD); a port as a watcher (DOWN in its handler);
 * two drainers (another thread while a drain runs, and the handler
 * itself: TRP_EBUSY); a drain from a behaviour (TRP_EPERM);
 * trp_actor_stop from the handler (TRP_EPERM); destroy with a port open
 * (mail dead-lettered, TRP_ECLOSED after, the handle and fd outlive the
 * runtime). Every test ends with the delivery identity.
 *
 * Handlers never call the checks (they longjmp): they record, the test
 * thread asserts.
 */
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <troupe/troupe.h>

#include "api_util.h"

#define MS (1000 * 1000LL)

enum {
	T_DATA = 1,
	T_ASK,
	T_TAKE,
	T_DOWN,
	T_GO,
	T_SELF_DRAIN,
	T_STOP_SELF,
	T_BLOCK,
	T_REPLY_HELD,
	T_PUB,
};

/* Dead letters, and by reason (api_util.h). */
static struct api_dead_letters dead_letters;

static trp_runtime_t *make_rt(uint32_t workers)
{
	return api_runtime_new(workers, &dead_letters);
}

/* ------------------------------------------------------------------ */
/* fd helpers                                                          */

static bool readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, 0);
	assert_true(n >= 0);
	return n == 1 && (p.revents & POLLIN) != 0;
}

/* Reads the eventfd's counter (the test looks at how often it was
 * written; a real loop never reads it). 0 if it was not readable. */
static uint64_t take_count(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof v) != (ssize_t)sizeof v)
		return 0;
	return v;
}

/* ------------------------------------------------------------------ */
/* the recording handler                                               */

#define LOG_MAX 4096

struct rec {
	trp_actor_t *self;
	uint32_t types[LOG_MAX];
	uint32_t senders[LOG_MAX];
	uint32_t seqs[LOG_MAX];
	long n;
	int bad;	     /* malformed payloads, wrong self */
	int rc[8];	     /* return codes of calls made inside */
	trp_request_t *held; /* taken request (T_TAKE) */
	trp_down_t down;     /* last DOWN */
	long downs;
	pthread_t drainer;  /* the thread that ran the handler last */
	atomic_int blocked; /* T_BLOCK: inside, waiting for go */
	atomic_int go;
};

struct item {
	uint32_t sender;
	uint32_t seq;
};

static void rec_handler(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct rec *r = state;
	struct item it = { 0, 0 };
	r->drainer = pthread_self();
	if (r->self != NULL && self != r->self)
		r->bad++;
	switch (msg->type) {
	case T_ASK:
		r->rc[0] = trp_reply(msg, msg->data, msg->size);
		break;
	case T_TAKE:
		r->rc[1] = trp_request_take(msg, &r->held);
		break;
	case T_REPLY_HELD: {
		uint32_t v = 4242;
		r->rc[2] = trp_request_reply(r->held, &v, sizeof v);
		r->held = NULL;
		break;
	}
	case T_DOWN:
		if (msg->size == sizeof r->down)
			memcpy(&r->down, msg->data, sizeof r->down);
		else
			r->bad++;
		r->downs++;
		break;
	case T_SELF_DRAIN:
		r->rc[3] = trp_port_drain(self, 16);
		break;
	case T_STOP_SELF:
		r->rc[4] = trp_actor_stop(self);
		r->rc[5] = trp_actor_fail(self, 7);
		break;
	case T_BLOCK:
		atomic_store(&r->blocked, 1);
		while (!atomic_load(&r->go))
			usleep(100);
		break;
	default:
		break;
	}
	if (msg->size == sizeof it)
		memcpy(&it, msg->data, sizeof it);
	if (r->n < LOG_MAX) {
		r->types[r->n] = msg->type;
		r->senders[r->n] = it.sender;
		r->seqs[r->n] = it.seq;
	}
	r->n++;
}

static struct rec *new_rec(void)
{
	struct rec *r = calloc(1, sizeof *r);
	assert_non_null(r);
	return r;
}

static trp_actor_t *open_port(trp_runtime_t *rt, struct rec *r)
{
	trp_actor_t *p = NULL;
	CHECK_OK(trp_port_open(rt, rec_handler, r, &p));
	assert_non_null(p);
	r->self = p;
	return p;
}

static int send_item(trp_actor_t *to, uint32_t type, uint32_t sender,
		     uint32_t seq)
{
	struct item it = { sender, seq };
	return trp_send(to, type, &it, sizeof it);
}

/* Drains until the port is idle (the fd not readable), with a deadline;
 * returns the messages handled. */
static long drain_all(trp_actor_t *p, uint32_t budget)
{
	long total = 0;
	int64_t deadline = now_ns() + SETTLE_NS;
	int fd = trp_port_fd(p);
	while (readable(fd)) {
		int rc = trp_port_drain(p, budget);
		assert_true(rc >= 0);
		total += rc;
		assert_true(now_ns() < deadline);
	}
	return total;
}

static void noop(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	(void)msg;
}

/* ------------------------------------------------------------------ */

static void test_bad_arguments(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = (trp_actor_t *)(uintptr_t)0x1, *a = NULL;
	assert_int_equal(trp_port_open(NULL, rec_handler, r, &p), TRP_EINVAL);
	assert_int_equal(trp_port_open(rt, NULL, r, &p), TRP_EINVAL);
	assert_int_equal(trp_port_open(rt, rec_handler, r, NULL), TRP_EINVAL);
	assert_ptr_equal(p, (trp_actor_t *)(uintptr_t)0x1); /* untouched */
	trp_actor_def_t def = { .behavior = noop };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &a));
	p = open_port(rt, r);
	assert_true(trp_actor_is_port(p));
	assert_false(trp_actor_is_port(a));
	assert_false(trp_actor_is_port(NULL));
	assert_int_equal(trp_port_fd(NULL), TRP_EINVAL);
	assert_int_equal(trp_port_fd(a), TRP_EINVAL);
	assert_true(trp_port_fd(p) >= 0);
	assert_int_equal(trp_port_drain(NULL, 1), TRP_EINVAL);
	assert_int_equal(trp_port_drain(a, 1), TRP_EINVAL);
	assert_int_equal(trp_port_drain(p, 0), TRP_EINVAL);
	assert_int_equal(trp_port_close(NULL), TRP_EINVAL);
	assert_int_equal(trp_port_close(a), TRP_EINVAL);
	assert_true(trp_actor_alive(a)); /* not closed by that */
	/* A drain of an idle port is harmless. */
	assert_int_equal(trp_port_drain(p, 8), 0);
	/* The handler cannot stop or fail its port (event actors only). */
	CHECK_OK(send_item(p, T_STOP_SELF, 0, 0));
	assert_int_equal(trp_port_drain(p, 8), 1);
	assert_int_equal(r->rc[4], TRP_EPERM);
	assert_int_equal(r->rc[5], TRP_EPERM);
	assert_true(trp_actor_alive(p));
	assert_int_equal(r->bad, 0);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(a);
	trp_actor_release(p);
	free(r);
}

static void test_readiness(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r);
	int fd = trp_port_fd(p);

	/* Idle: not readable. The first send signals. */
	assert_false(readable(fd));
	CHECK_OK(send_item(p, T_DATA, 0, 0));
	assert_true(readable(fd));
	assert_int_equal(trp_port_drain(p, 8), 1);
	assert_false(readable(fd));

	/* A burst of 100 sends: one signal (one eventfd write). */
	for (uint32_t i = 1; i <= 100; i++)
		CHECK_OK(send_item(p, T_DATA, 0, i));
	assert_int_equal(take_count(fd), 1);
	assert_false(readable(fd)); /* we took the wake-up ourselves... */
	/* ... the drain does not need it: it looks at the mailbox. */
	assert_int_equal(trp_port_drain(p, 1000), 100);
	assert_false(readable(fd));
	/* Idle again: the next send signals again. */
	CHECK_OK(send_item(p, T_DATA, 0, 101));
	assert_int_equal(take_count(fd), 1);
	assert_int_equal(trp_port_drain(p, 1000), 1);

	/* Stopping at the budget with mail left signals again (once). */
	for (uint32_t i = 102; i < 112; i++)
		CHECK_OK(send_item(p, T_DATA, 0, i));
	assert_int_equal(trp_port_drain(p, 3), 3);
	assert_true(readable(fd));
	assert_int_equal(take_count(fd), 1);
	assert_int_equal(trp_port_drain(p, 3), 3);
	assert_true(readable(fd));
	assert_int_equal(trp_port_drain(p, 3), 3);
	assert_true(readable(fd));
	/* The budget reached exactly at the last message: idle, no signal. */
	assert_int_equal(trp_port_drain(p, 1), 1);
	assert_false(readable(fd));
	assert_int_equal(trp_port_drain(p, 1), 0); /* spurious: harmless */

	/* Order and count so far. */
	assert_int_equal(r->n, 112);
	for (long i = 0; i < r->n; i++)
		assert_int_equal(r->seqs[i], (uint32_t)i);

	/* Edge-triggered epoll: a drain at its budget re-arms the edge. */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	assert_true(ep >= 0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET };
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev), 0);
	struct epoll_event out[4];
	assert_int_equal(epoll_wait(ep, out, 4, 0), 0);
	for (uint32_t i = 0; i < 5; i++)
		CHECK_OK(send_item(p, T_DATA, 1, i));
	long got = 0;
	int wakes = 0;
	while (epoll_wait(ep, out, 4, 0) == 1) {
		int rc = trp_port_drain(p, 2);
		assert_true(rc >= 0);
		got += rc;
		wakes++;
		assert_true(wakes < 10);
	}
	assert_int_equal(got, 5);
	assert_int_equal(wakes, 3); /* 2 + 2 + 1 */
	assert_false(readable(fd));
	/* One more message: one more edge. */
	CHECK_OK(send_item(p, T_DATA, 1, 5));
	assert_int_equal(epoll_wait(ep, out, 4, 1000), 1);
	assert_int_equal(trp_port_drain(p, 2), 1);
	assert_int_equal(epoll_wait(ep, out, 4, 0), 0);
	close(ep);

	assert_int_equal(r->bad, 0);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(p);
	free(r);
}

/* ------------------------------------------------------------------ */
/* senders: outside threads, event actors, names, exchanges            */

#define PER_SENDER 500

struct sender_arg {
	trp_actor_t *to;
	uint32_t id;
	int failed;
};

static void *sender_thread(void *arg)
{
	struct sender_arg *s = arg;
	for (uint32_t i = 0; i < PER_SENDER; i++)
		if (send_item(s->to, T_DATA, s->id, i) != 0)
			s->failed++;
	return NULL;
}

/* An event actor that, on T_GO, sends PER_SENDER items to the port (its
 * state) as sender 100. */
static void actor_sender(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	trp_actor_t *port = *(trp_actor_t **)state;
	if (msg->type != T_GO)
		return;
	for (uint32_t i = 0; i < PER_SENDER; i++)
		if (send_item(port, T_DATA, 100, i) != 0)
			note_error(TRP_EINVAL);
}

static void test_senders(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(2);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r), *a = NULL;
	trp_actor_def_t def = { .behavior = actor_sender,
				.state_size = sizeof p };
	CHECK_OK(trp_actor_spawn(rt, &def, &p, &a));
	struct sender_arg args[2] = { { p, 1, 0 }, { p, 2, 0 } };
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, sender_thread,
						&args[i]),
				 0);
	CHECK_OK(trp_send(a, T_GO, NULL, 0));
	/* Drain as a loop would, while they send. */
	long got = 0;
	int64_t deadline = now_ns() + SETTLE_NS;
	while (got < 3 * PER_SENDER) {
		struct pollfd pf = { .fd = trp_port_fd(p), .events = POLLIN };
		(void)poll(&pf, 1, 100);
		int rc = trp_port_drain(p, 7);
		assert_true(rc >= 0);
		got += rc;
		assert_true(now_ns() < deadline);
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].failed, 0);
	}
	assert_no_behaviour_errors();
	assert_int_equal(drain_all(p, 7), 0);
	assert_int_equal(r->n, 3 * PER_SENDER);
	uint32_t next[101] = { 0 };
	for (long i = 0; i < r->n; i++) {
		uint32_t s = r->senders[i];
		assert_true(s == 1 || s == 2 || s == 100);
		assert_int_equal(r->seqs[i], next[s]);
		next[s]++;
	}
	assert_true(pthread_equal(r->drainer, pthread_self()));
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(a);
	trp_actor_release(p);
	free(r);
}

static void test_names_and_exchanges(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r), *found = NULL;
	CHECK_OK(trp_register(rt, "loop", p));
	CHECK_OK(trp_lookup(rt, "loop", &found));
	assert_ptr_equal(found, p);
	trp_actor_release(found);
	struct item it = { 7, 0 };
	CHECK_OK(trp_send_named(rt, "loop", T_DATA, &it, sizeof it));

	trp_exchange_t *ex = NULL;
	trp_sub_t sub = 0;
	CHECK_OK(trp_exchange_get(rt, "events", &ex));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(p), &sub));
	it.seq = 1;
	CHECK_OK(trp_exchange_publish(ex, T_PUB, &it, sizeof it));
	struct item items[3] = { { 7, 2 }, { 7, 3 }, { 7, 4 } };
	CHECK_OK(trp_exchange_publish_n(ex, T_PUB, items, sizeof items[0], 3));
	/* A large payload, shared between actor sinks (two of them). */
	trp_actor_def_t def = { .behavior = noop };
	trp_actor_t *other = NULL;
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &other));
	CHECK_OK(trp_exchange_attach(ex, trp_sink_actor(other), NULL));
	char big[1024];
	memset(big, 'x', sizeof big);
	CHECK_OK(trp_exchange_publish(ex, T_PUB, big, sizeof big));

	assert_int_equal(drain_all(p, 2), 6);
	assert_int_equal(r->n, 6);
	for (long i = 0; i < 5; i++) {
		assert_int_equal(r->senders[i], 7);
		assert_int_equal(r->seqs[i], (uint32_t)i);
	}
	assert_int_equal(r->types[0], T_DATA);
	assert_int_equal(r->types[5], T_PUB);
	trp_exchange_stats_t st;
	CHECK_OK(trp_exchange_stats(ex, &st));
	assert_int_equal(st.dropped_full + st.dropped_dead + st.dropped_other,
			 0);
	CHECK_OK(trp_exchange_detach(ex, sub));
	trp_exchange_release(ex);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(other);
	trp_actor_release(p);
	free(r);
}

/* ------------------------------------------------------------------ */
/* requests                                                            */

struct reply_arg {
	trp_request_t *held;
	int rc;
};

static void *reply_elsewhere(void *arg)
{
	struct reply_arg *a = arg;
	uint32_t v = 1;
	a->rc = trp_request_reply(a->held, &v, sizeof v);
	return NULL;
}

static void test_requests(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r);
	trp_future_t *f = NULL;
	const trp_msg_t *reply = NULL;
	uint32_t v = 99;

	/* Answered in the handler. */
	CHECK_OK(trp_ask(p, T_ASK, &v, sizeof v, &f));
	assert_false(trp_future_done(f));
	assert_int_equal(trp_port_drain(p, 8), 1);
	CHECK_OK(r->rc[0]);
	CHECK_OK(trp_future_wait(f, 0, &reply));
	assert_int_equal(reply->size, sizeof v);
	assert_memory_equal(reply->data, &v, sizeof v);
	trp_future_release(f);

	/* Handled without an answer: TRP_ENOREPLY. */
	CHECK_OK(trp_ask(p, T_DATA, &v, sizeof v, &f));
	assert_int_equal(trp_port_drain(p, 8), 1);
	assert_int_equal(trp_future_wait(f, 0, NULL), TRP_ENOREPLY);
	trp_future_release(f);

	/* Taken, then answered in a later drain. */
	CHECK_OK(trp_ask(p, T_TAKE, &v, sizeof v, &f));
	assert_int_equal(trp_port_drain(p, 8), 1);
	CHECK_OK(r->rc[1]);
	assert_non_null(r->held);
	assert_false(trp_future_done(f));
	CHECK_OK(send_item(p, T_REPLY_HELD, 0, 0));
	assert_int_equal(trp_port_drain(p, 8), 1);
	CHECK_OK(r->rc[2]);
	CHECK_OK(trp_future_wait(f, 0, &reply));
	assert_int_equal(*(const uint32_t *)reply->data, 4242);
	trp_future_release(f);

	/* Taken, then answered on the loop thread outside any drain (a
	 * loop callback); another thread is not the holder. */
	CHECK_OK(trp_ask(p, T_TAKE, &v, sizeof v, &f));
	assert_int_equal(trp_port_drain(p, 8), 1);
	CHECK_OK(r->rc[1]);
	struct reply_arg ra = { r->held, 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, reply_elsewhere, &ra), 0);
	pthread_join(th, NULL);
	assert_int_equal(ra.rc, TRP_EPERM);
	assert_false(trp_future_done(f));
	v = 5;
	CHECK_OK(trp_request_reply(r->held, &v, sizeof v));
	r->held = NULL;
	CHECK_OK(trp_future_wait(f, 0, &reply));
	assert_int_equal(*(const uint32_t *)reply->data, 5);
	trp_future_release(f);

	/* Taken and still held when the port stops: TRP_EDEAD. */
	CHECK_OK(trp_ask(p, T_TAKE, &v, sizeof v, &f));
	assert_int_equal(trp_port_drain(p, 8), 1);
	CHECK_OK(r->rc[1]);
	CHECK_OK(trp_port_close(p));
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	assert_int_equal(trp_future_wait(f, 0, NULL), TRP_EDEAD);
	trp_future_release(f);
	r->held = NULL;

	assert_int_equal(r->bad, 0);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(p);
	free(r);
}

/* ------------------------------------------------------------------ */
/* close, kill, monitors                                               */

/* An event actor that records the DOWNs it gets. */
struct watcher {
	atomic_long downs;
	atomic_int reason;
	atomic_long before; /* port messages the loop had handled by then */
	struct rec *r;
};

static void watcher_behavior(trp_actor_t *self, void *state,
			     const trp_msg_t *msg)
{
	(void)self;
	struct watcher *w = state;
	trp_down_t d;
	if (msg->type != T_DOWN || msg->size != sizeof d) {
		note_error(TRP_EINVAL);
		return;
	}
	memcpy(&d, msg->data, sizeof d);
	atomic_store(&w->reason, d.reason);
	atomic_fetch_add(&w->downs, 1);
}

static void test_close_with_mail(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r), *wa = NULL;
	struct watcher *w = calloc(1, sizeof *w);
	assert_non_null(w);
	trp_actor_def_t def = { .behavior = watcher_behavior };
	CHECK_OK(trp_actor_spawn(rt, &def, w, &wa));
	trp_ref_t ref = 0;
	CHECK_OK(trp_monitor(wa, p, T_DOWN, &ref));
	trp_future_t *watch = NULL;
	CHECK_OK(trp_actor_watch(p, &watch));
	int fd = trp_port_fd(p);

	for (uint32_t i = 0; i < 5; i++)
		CHECK_OK(send_item(p, T_DATA, 0, i));
	trp_future_t *ask = NULL;
	uint32_t v = 3;
	CHECK_OK(trp_ask(p, T_ASK, &v, sizeof v, &ask));
	CHECK_OK(trp_port_close(p));
	CHECK_OK(trp_port_close(p)); /* twice: harmless */
	assert_int_equal(send_item(p, T_DATA, 0, 99), TRP_EDEAD);
	assert_true(trp_actor_alive(p)); /* closing: not stopped yet */
	assert_false(trp_future_done(watch));

	/* The mail sent before the close is handled, in order... */
	assert_int_equal(trp_port_drain(p, 2), 2);
	assert_true(readable(fd));
	assert_int_equal(trp_port_drain(p, 2), 2);
	assert_false(trp_future_done(watch));
	/* ... then the drain that reaches the close stops the port. */
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	assert_int_equal(r->n, 6);
	assert_int_equal(r->types[5], T_ASK);
	CHECK_OK(trp_future_wait(ask, 0, NULL));
	trp_future_release(ask);
	assert_false(trp_actor_alive(p));
	const trp_msg_t *m = NULL;
	CHECK_OK(trp_future_wait(watch, SETTLE_NS, &m));
	trp_down_t d;
	memcpy(&d, m->data, sizeof d);
	assert_int_equal(d.reason, TRP_STOP_CLOSED);
	assert_int_equal(d.actor_id, trp_actor_id(p));
	trp_future_release(watch);
	assert_true(wait_for(&w->downs, 1));
	assert_int_equal(atomic_load(&w->reason), TRP_STOP_CLOSED);

	/* Stopped: ECLOSED from now on; the fd stays valid and readable. */
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	assert_int_equal(trp_port_close(p), TRP_EDEAD);
	assert_true(readable(fd));
	assert_int_equal(trp_port_fd(p), fd);
	assert_int_equal(send_item(p, T_DATA, 0, 100), TRP_EDEAD);
	assert_int_equal(atomic_load(&dead_letters.count), 0);

	assert_no_behaviour_errors();
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(wa);
	trp_actor_release(p);
	free(w);
	free(r);
}

static void test_kill_with_mail(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r);
	trp_future_t *watch = NULL, *ask = NULL;
	CHECK_OK(trp_actor_watch(p, &watch));
	for (uint32_t i = 0; i < 4; i++)
		CHECK_OK(send_item(p, T_DATA, 0, i));
	uint32_t v = 1;
	CHECK_OK(trp_ask(p, T_ASK, &v, sizeof v, &ask));
	CHECK_OK(trp_actor_kill(p));
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	assert_int_equal(r->n, 0); /* nothing handled after the kill */
	assert_int_equal(trp_future_wait(ask, 0, NULL), TRP_EDEAD);
	trp_future_release(ask);
	const trp_msg_t *m = NULL;
	CHECK_OK(trp_future_wait(watch, SETTLE_NS, &m));
	trp_down_t d;
	memcpy(&d, m->data, sizeof d);
	assert_int_equal(d.reason, TRP_STOP_KILLED);
	trp_future_release(watch);
	assert_int_equal(atomic_load(&dead_letters.by[TRP_DEAD_KILLED]), 5);
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(p);
	free(r);
}

/* A port watches an event actor: the DOWN reaches its handler. */
static void stopper(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)state;
	(void)msg;
	(void)trp_actor_stop(self);
}

static void test_port_watches(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r), *t = NULL;
	trp_actor_def_t def = { .behavior = stopper };
	CHECK_OK(trp_actor_spawn(rt, &def, NULL, &t));
	trp_ref_t ref = 0, ref2 = 0;
	CHECK_OK(trp_monitor(p, t, T_DOWN, &ref));
	CHECK_OK(trp_monitor(p, t, T_DOWN, &ref2));
	CHECK_OK(trp_send(t, T_GO, NULL, 0));
	settle(rt);
	/* The second monitor's DOWN is voided before the drain sees it. */
	CHECK_OK(trp_demonitor(p, ref2));
	assert_int_equal(drain_all(p, 8), 1);
	assert_int_equal(r->downs, 1);
	assert_int_equal(r->down.ref, ref);
	assert_int_equal(r->down.reason, TRP_STOP_NORMAL);
	assert_int_equal(r->down.actor_id, trp_actor_id(t));
	assert_int_equal(atomic_load(&dead_letters.by[TRP_DEAD_DEMONITORED]),
			 1);
	assert_int_equal(r->bad, 0);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(t);
	trp_actor_release(p);
	free(r);
}

/* ------------------------------------------------------------------ */
/* thread rules                                                        */

struct drain_arg {
	trp_actor_t *p;
	int rc;
};

static void *drain_thread(void *arg)
{
	struct drain_arg *d = arg;
	d->rc = trp_port_drain(d->p, 8);
	return NULL;
}

static void test_two_drainers(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r);

	/* The handler drains its own port: refused. */
	CHECK_OK(send_item(p, T_SELF_DRAIN, 0, 0));
	CHECK_OK(send_item(p, T_DATA, 0, 1));
	assert_int_equal(trp_port_drain(p, 8), 2);
	assert_int_equal(r->rc[3], TRP_EBUSY);

	/* Another thread drains while the handler blocks: refused, and the
	 * mailbox untouched (the message after the block waits for us). */
	CHECK_OK(send_item(p, T_BLOCK, 0, 2));
	CHECK_OK(send_item(p, T_DATA, 0, 3));
	struct drain_arg da = { p, 0 };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, drain_thread, &da), 0);
	int64_t deadline = now_ns() + SETTLE_NS;
	while (!atomic_load(&r->blocked)) {
		assert_true(now_ns() < deadline);
		usleep(100);
	}
	assert_int_equal(trp_port_drain(p, 8), TRP_EBUSY);
	atomic_store(&r->go, 1);
	pthread_join(th, NULL);
	assert_int_equal(da.rc, 2);
	/* Drains may move between threads: that one ran the handler. */
	assert_true(pthread_equal(r->drainer, th));
	assert_int_equal(trp_port_drain(p, 8), 0);
	assert_int_equal(r->n, 4);
	for (long i = 0; i < r->n; i++)
		assert_int_equal(r->seqs[i], (uint32_t)i);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(p);
	free(r);
}

/* A behaviour may not drain a port. */
static void drain_in_behaviour(trp_actor_t *self, void *state,
			       const trp_msg_t *msg)
{
	(void)self;
	(void)msg;
	atomic_int *rc = state;
	trp_actor_t *port = *(trp_actor_t *const *)msg->data;
	atomic_store(rc, trp_port_drain(port, 8) - 1000);
}

static void test_drain_from_worker(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r), *a = NULL;
	atomic_int rc;
	atomic_init(&rc, 0);
	trp_actor_def_t def = { .behavior = drain_in_behaviour };
	CHECK_OK(trp_actor_spawn(rt, &def, &rc, &a));
	CHECK_OK(send_item(p, T_DATA, 0, 0));
	CHECK_OK(trp_send(a, T_GO, &p, sizeof p));
	settle(rt);
	assert_int_equal(atomic_load(&rc), TRP_EPERM - 1000);
	assert_int_equal(trp_port_drain(p, 8), 1);
	(void)api_assert_balanced(rt);
	CHECK_OK(trp_runtime_destroy(rt));
	trp_actor_release(a);
	trp_actor_release(p);
	free(r);
}

/* ------------------------------------------------------------------ */
/* destroy                                                             */

static void test_destroy_with_port_open(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r);
	int fd = trp_port_fd(p);
	trp_future_t *watch = NULL, *ask = NULL;
	CHECK_OK(trp_actor_watch(p, &watch));
	for (uint32_t i = 0; i < 3; i++)
		CHECK_OK(send_item(p, T_DATA, 0, i));
	uint32_t v = 1;
	CHECK_OK(trp_ask(p, T_ASK, &v, sizeof v, &ask));
	assert_int_equal(trp_port_drain(p, 1), 1); /* two left + the ask */
	trp_stats_t fin = api_destroy_balanced(rt);
	assert_int_equal(fin.dead_by_reason[TRP_DEAD_SHUTDOWN], 3);
	assert_int_equal(trp_future_wait(ask, 0, NULL), TRP_EDEAD);
	trp_future_release(ask);
	const trp_msg_t *m = NULL;
	CHECK_OK(trp_future_wait(watch, 0, &m));
	trp_down_t d;
	memcpy(&d, m->data, sizeof d);
	assert_int_equal(d.reason, TRP_STOP_SHUTDOWN);
	trp_future_release(watch);
	/* The handle and its fd outlive the runtime. */
	assert_true(readable(fd));
	assert_int_equal(trp_port_fd(p), fd);
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	assert_false(trp_actor_alive(p));
	assert_int_equal(r->n, 1);
	trp_actor_release(p);
	free(r);
}

/* A port opened and never used, and one idle with its handle released
 * before destroy: both stop at destroy, nothing leaks. */
static void test_destroy_idle_ports(void **unused)
{
	(void)unused;
	trp_runtime_t *rt = make_rt(1);
	struct rec *r = new_rec();
	trp_actor_t *p = open_port(rt, r), *q = open_port(rt, r);
	CHECK_OK(send_item(q, T_DATA, 0, 0));
	trp_actor_release(q); /* the runtime's reference keeps it */
	trp_stats_t fin = api_destroy_balanced(rt);
	assert_int_equal(fin.dead_by_reason[TRP_DEAD_SHUTDOWN], 1);
	assert_int_equal(fin.stopped, 2);
	assert_int_equal(trp_port_drain(p, 8), TRP_ECLOSED);
	trp_actor_release(p);
	free(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_readiness),
		cmocka_unit_test(test_senders),
		cmocka_unit_test(test_names_and_exchanges),
		cmocka_unit_test(test_requests),
		cmocka_unit_test(test_close_with_mail),
		cmocka_unit_test(test_kill_with_mail),
		cmocka_unit_test(test_port_watches),
		cmocka_unit_test(test_two_drainers),
		cmocka_unit_test(test_drain_from_worker),
		cmocka_unit_test(test_destroy_with_port_open),
		cmocka_unit_test(test_destroy_idle_ports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
