/*
 * tests/unit/mailbox.c - single-threaded contract of core/mailbox.h.
 *
 * Keep-last consumption (actor mailboxes): FIFO through take_sc, the node
 * hand-back ("done": each take returns the node taken before it, mark_idle
 * and close return the last one), the idle and closed tags once per period,
 * snapshot_sc, reclaim_sc, chains (push_chain_mp), and the "busy" state of
 * a push caught between its exchange and its link. Detaching consumption
 * (the injection queue): pop_sc's FIFO, stub re-queue, busy state and node
 * reuse, on a queue that never uses tags, snapshots or take (the two may
 * not be mixed).
 *
 * Seam: the test compiles core/mailbox.c into itself (the library's copy
 * of the object is then not linked in) with its loads of mb->head routed
 * through a hook. A test can arm the hook to run a push right after
 * tag_if_empty's relaxed pre-check of head, i.e. between the pre-check and
 * the CAS: the window in which mark_idle/close reset the consumer side and
 * must restore it when the CAS fails, and must not clobber a link behind
 * the stub when the stub is the tail. Without the seam no single-threaded
 * test can reach that window (a push before the call fails the pre-check).
 * The concurrent behaviour is checked by tests/stress/mailbox_mpsc.c and
 * the spin models (tests/models/mailbox_idle*.pml).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>

#include "mailbox.h"

/* ------------------------------------------------------------- seam -- */

static uintptr_t load_word(_Atomic(uintptr_t) *p, memory_order mo)
{
	return atomic_load_explicit(p, mo);
}

static struct trp__mpsc_node *load_link(_Atomic(struct trp__mpsc_node *) *p,
					memory_order mo)
{
	return atomic_load_explicit(p, mo);
}

static uintptr_t hooked_load_word(_Atomic(uintptr_t) *p, memory_order mo);

/* mailbox.c loads two kinds of atomics: head (a word) and links. */
#define LOAD_VIA(word_fn, p, mo)                                               \
	_Generic((p), _Atomic(uintptr_t) *: word_fn, default: load_link)(p, mo)
#undef atomic_load_explicit
#define atomic_load_explicit(p, mo) LOAD_VIA(hooked_load_word, p, mo)
#include "../../core/mailbox.c" /* not this file: a path */
#undef atomic_load_explicit
#define atomic_load_explicit(p, mo) LOAD_VIA(load_word, p, mo)

struct msg {
	struct trp__mpsc_node node; /* first: a node pointer is a msg */
	int value;
};

#define NMSG 64

static struct trp__mailbox mb;
static struct msg msgs[NMSG];
/* What an out-parameter holds before a call: a call must overwrite it. */
static struct trp__mpsc_node unset;

/* The hook: runs once, on the next load of mb.head, after the load. */
static void (*after_head_load)(void);

static uintptr_t hooked_load_word(_Atomic(uintptr_t) *p, memory_order mo)
{
	uintptr_t v = load_word(p, mo);
	if (after_head_load != NULL && p == &mb.head) {
		void (*fn)(void) = after_head_load;
		after_head_load = NULL;
		fn();
	}
	return v;
}

static int setup(void **state)
{
	(void)state;
	for (int i = 0; i < NMSG; i++)
		msgs[i].value = i;
	return 0;
}

/* ----------------------------------------------------------- helpers -- */

static const char *name_of(const struct trp__mpsc_node *n, char *buf,
			   size_t len)
{
	if (n == NULL)
		return "NULL";
	if (n == &mb.stub)
		return "the stub";
	if (n == &unset)
		return "(not set)";
	for (int i = 0; i < NMSG; i++)
		if (n == &msgs[i].node) {
			snprintf(buf, len, "msgs[%d]", i);
			return buf;
		}
	snprintf(buf, len, "%p", (const void *)n);
	return buf;
}

static void check_node(const char *what, const struct trp__mpsc_node *got,
		       const struct trp__mpsc_node *want, const char *file,
		       int line)
{
	char b1[32], b2[32];
	if (got == want)
		return;
	print_error("%s: got %s, expected %s\n", what,
		    name_of(got, b1, sizeof b1), name_of(want, b2, sizeof b2));
	_fail(file, line);
}

static struct trp__mpsc_node *node_or_null(struct msg *m)
{
	return m != NULL ? &m->node : NULL;
}

/* take_sc must return @want (NULL: nothing) and hand back @done. */
#define TAKE(want, done) take_check((want), (done), __FILE__, __LINE__)
static void take_check(struct msg *want, struct msg *want_done,
		       const char *file, int line)
{
	struct trp__mpsc_node *done = &unset;
	struct trp__mpsc_node *n = trp__mailbox_take_sc(&mb, &done);
	check_node("take_sc", n, node_or_null(want), file, line);
	check_node("take_sc's *done", done, node_or_null(want_done), file,
		   line);
}

/* mark_idle_sc must return @ok and hand back @done. */
#define MARK_IDLE(ok, done) tag_check(false, (ok), (done), __FILE__, __LINE__)
#define CLOSE(ok, done) tag_check(true, (ok), (done), __FILE__, __LINE__)
static void tag_check(bool close, bool want_ok, struct msg *want_done,
		      const char *file, int line)
{
	struct trp__mpsc_node *done = &unset;
	bool armed = after_head_load != NULL;
	bool ok = close ? trp__mailbox_close_sc(&mb, &done) :
			  trp__mailbox_mark_idle_sc(&mb, &done);
	/* The hook fires at tag_if_empty's pre-check, its first load of
	 * head; if mailbox.c loses the pre-check, move the seam (e.g. to
	 * the CAS). */
	if (armed && after_head_load != NULL) {
		print_error("the seam did not fire: tag_if_empty no longer "
			    "loads head before its CAS?\n");
		_fail(file, line);
	}
	if (ok != want_ok) {
		print_error("%s returned %s\n",
			    close ? "close_sc" : "mark_idle_sc",
			    ok ? "true" : "false");
		_fail(file, line);
	}
	check_node(close ? "close_sc's *done" : "mark_idle_sc's *done", done,
		   node_or_null(want_done), file, line);
}

static unsigned push(struct msg *m)
{
	return trp__mailbox_push_mp(&mb, &m->node);
}

static struct msg *pop(void)
{
	return (struct msg *)trp__mailbox_pop_sc(&mb);
}

/*
 * The first half of trp__mailbox_push_mp: the exchange on head, without
 * the link store that follows it. Leaves the queue exactly as a producer
 * preempted between its two steps would. Returns the previous head.
 * (White box: mirrors mailbox.c's push; tags are the low bits.)
 */
static struct trp__mpsc_node *half_push(struct trp__mpsc_node *n)
{
	atomic_store_explicit(&n->next, NULL, memory_order_relaxed);
	uintptr_t prev = atomic_exchange_explicit(&mb.head, (uintptr_t)n,
						  memory_order_acq_rel);
	assert_int_equal(prev & (TRP__MAILBOX_IDLE | TRP__MAILBOX_CLOSED), 0);
	return (struct trp__mpsc_node *)prev;
}

/* The second half: the link store. */
static void finish_push(struct trp__mpsc_node *prev, struct trp__mpsc_node *n)
{
	atomic_store_explicit(&prev->next, n, memory_order_release);
}

/* Links msgs[from..to] through their next fields, as the caller of
 * push_chain_mp does (the outbox), and pushes them as one chain. */
static unsigned push_chain(int from, int to)
{
	for (int i = from; i < to; i++)
		atomic_store_explicit(&msgs[i].node.next, &msgs[i + 1].node,
				      memory_order_relaxed);
	return trp__mailbox_push_chain_mp(&mb, &msgs[from].node,
					  &msgs[to].node);
}

/* ------------------------------------------------ keep-last: basics -- */

static void test_init(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	assert_true(trp__mailbox_is_idle(&mb));
	assert_null(trp__mailbox_snapshot_sc(&mb));

	trp__mailbox_init(&mb, false);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_null(trp__mailbox_snapshot_sc(&mb));
	TAKE(NULL, NULL);
	/* nothing was ever taken: going idle hands nothing back */
	MARK_IDLE(true, NULL);
	assert_true(trp__mailbox_is_idle(&mb));
}

static void test_push_reports_idle_once_per_period(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	/* the first push of an idle period sees the tag, the others not */
	assert_int_equal(push(&msgs[0]), TRP__MAILBOX_IDLE);
	assert_false(trp__mailbox_is_idle(&mb));
	assert_int_equal(push(&msgs[1]), 0);
	assert_int_equal(push(&msgs[2]), 0);
	TAKE(&msgs[0], NULL);
	TAKE(&msgs[1], &msgs[0]);
	TAKE(&msgs[2], &msgs[1]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[2]);

	for (int period = 0; period < 5; period++) {
		assert_true(trp__mailbox_is_idle(&mb));
		assert_int_equal(push(&msgs[3]), TRP__MAILBOX_IDLE);
		assert_false(trp__mailbox_is_idle(&mb));
		assert_int_equal(push(&msgs[4]), 0);
		TAKE(&msgs[3], NULL);
		TAKE(&msgs[4], &msgs[3]);
		TAKE(NULL, NULL);
		MARK_IDLE(true, &msgs[4]);
	}

	/* not idle at init: no push sees the tag */
	trp__mailbox_init(&mb, false);
	assert_int_equal(push(&msgs[0]), 0);
	TAKE(&msgs[0], NULL);
	TAKE(NULL, NULL);
	assert_int_equal(push(&msgs[1]), 0);
}

static void test_take_fifo(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	for (int i = 0; i < NMSG; i++)
		push(&msgs[i]);
	for (int i = 0; i < NMSG; i++)
		TAKE(&msgs[i], i > 0 ? &msgs[i - 1] : NULL);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[NMSG - 1]);

	/* interleaved pushes and takes keep order too; at most NMSG - 1
	 * nodes are pushed and not handed back (the last taken one is
	 * still in the queue), so a node is never pushed twice while
	 * queued */
	trp__mailbox_init(&mb, false);
	int next_in = 0, next_out = 0;
	struct msg *last = NULL;
	for (int round = 0; round < 200; round++) {
		int k = 1 + round % 5;
		for (int i = 0; i < k && next_in - next_out < NMSG - 1; i++) {
			push(&msgs[next_in % NMSG]);
			next_in++;
		}
		for (int i = 0; i < (round % 3) + 1 && next_out < next_in;
		     i++) {
			struct msg *m = &msgs[next_out % NMSG];
			TAKE(m, last);
			last = m;
			next_out++;
		}
	}
	while (next_out < next_in) {
		struct msg *m = &msgs[next_out % NMSG];
		TAKE(m, last);
		last = m;
		next_out++;
	}
	TAKE(NULL, NULL);
	MARK_IDLE(true, last);
}

/* take on an empty queue: NULL, nothing handed back, nothing changed. */
static void test_take_empty(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	TAKE(NULL, NULL);
	TAKE(NULL, NULL);
	push(&msgs[0]);
	TAKE(&msgs[0], NULL);
	/* msgs[0] stays as the tail: later takes neither return nor hand
	 * it back, and the queue counts as empty */
	for (int i = 0; i < 3; i++)
		TAKE(NULL, NULL);
	assert_null(trp__mailbox_snapshot_sc(&mb));
	/* still usable: the next push links behind msgs[0] */
	push(&msgs[1]);
	TAKE(&msgs[1], &msgs[0]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[1]);
	/* after the idle period: the stub is the tail again */
	assert_int_equal(push(&msgs[2]), TRP__MAILBOX_IDLE);
	TAKE(&msgs[2], NULL);
	TAKE(NULL, NULL);
}

/* Each take hands back the node taken before it; mark_idle and close hand
 * back the last one; nothing is handed back twice or while queued. */
static void test_done_hand_back(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	push(&msgs[0]);
	push(&msgs[1]);
	push(&msgs[2]);
	TAKE(&msgs[0], NULL); /* the stub is never handed back */
	TAKE(&msgs[1], &msgs[0]);
	/* a failed mark idle hands back nothing and keeps the tail */
	MARK_IDLE(false, NULL);
	CLOSE(false, NULL);
	TAKE(&msgs[2], &msgs[1]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[2]);

	/* a period in which nothing was taken hands nothing back */
	assert_true(trp__mailbox_reclaim_sc(&mb));
	TAKE(NULL, NULL);
	MARK_IDLE(true, NULL);

	/* close hands back the last node too */
	push(&msgs[3]);
	TAKE(&msgs[3], NULL);
	CLOSE(true, &msgs[3]);
	assert_int_equal(push(&msgs[4]), TRP__MAILBOX_CLOSED);
	TAKE(&msgs[4], NULL);
	CLOSE(true, &msgs[4]);
}

/*
 * A node handed back may be pushed again at once, also into the same queue,
 * also while the queue still holds its successor as the tail (an actor that
 * reuses a message block for a self-send).
 */
static void test_done_reuse(void **state)
{
	(void)state;
	/* one node, handed back by mark_idle, pushed again: 100 periods */
	trp__mailbox_init(&mb, true);
	struct msg *a = &msgs[0], *b = &msgs[1];
	for (int i = 0; i < 100; i++) {
		assert_int_equal(push(a), TRP__MAILBOX_IDLE);
		TAKE(a, NULL);
		TAKE(NULL, NULL);
		MARK_IDLE(true, a);
	}

	/* two nodes, each handed back by a take and pushed at once */
	assert_int_equal(push(a), TRP__MAILBOX_IDLE);
	push(b);
	TAKE(a, NULL);
	for (int i = 0; i < 100; i++) {
		TAKE(b, a);
		push(a); /* a was handed back; b is the tail */
		TAKE(a, b);
		push(b);
	}
	TAKE(b, a);
	TAKE(NULL, NULL);
	MARK_IDLE(true, b);

	/* handed back by close: the push finds the closed tag */
	assert_int_equal(push(a), TRP__MAILBOX_IDLE);
	TAKE(a, NULL);
	CLOSE(true, a);
	assert_int_equal(push(a), TRP__MAILBOX_CLOSED);
	TAKE(a, NULL);
	CLOSE(true, a);
}

/* A node pushed and not yet taken: mark_idle and close fail and change
 * nothing (no tag, no hand-back, the tail kept). */
static void test_mark_idle_not_empty(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	assert_int_equal(push(&msgs[0]), TRP__MAILBOX_IDLE);
	/* the stub is the tail */
	MARK_IDLE(false, NULL);
	CLOSE(false, NULL);
	assert_false(trp__mailbox_is_idle(&mb));
	TAKE(&msgs[0], NULL);
	/* a real node is the tail */
	push(&msgs[1]);
	MARK_IDLE(false, NULL);
	CLOSE(false, NULL);
	assert_false(trp__mailbox_is_idle(&mb));
	TAKE(&msgs[1], &msgs[0]);
	MARK_IDLE(true, &msgs[1]);
	assert_true(trp__mailbox_is_idle(&mb));
	assert_int_equal(push(&msgs[2]), TRP__MAILBOX_IDLE);
	TAKE(&msgs[2], NULL);
}

/*
 * A producer between its exchange and its link store: the queue is busy,
 * not empty. take returns NULL and hands nothing back, mark_idle and close
 * fail, snapshot already sees the node, and nothing is lost once the link
 * lands.
 */
static void test_busy_push(void **state)
{
	(void)state;
	/* busy behind the stub (an empty queue) */
	trp__mailbox_init(&mb, false);
	struct trp__mpsc_node *prev = half_push(&msgs[0].node);
	check_node("exchange's previous head", prev, &mb.stub, __FILE__,
		   __LINE__);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	CLOSE(false, NULL);
	check_node("snapshot_sc", trp__mailbox_snapshot_sc(&mb), &msgs[0].node,
		   __FILE__, __LINE__);
	finish_push(prev, &msgs[0].node);
	TAKE(&msgs[0], NULL);
	TAKE(NULL, NULL);

	/* busy behind the node last taken (the tail) */
	prev = half_push(&msgs[1].node);
	check_node("exchange's previous head", prev, &msgs[0].node, __FILE__,
		   __LINE__);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	CLOSE(false, NULL);
	/* more pushes behind the busy one wait for it */
	push(&msgs[2]);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	finish_push(prev, &msgs[1].node);
	TAKE(&msgs[1], &msgs[0]);
	TAKE(&msgs[2], &msgs[1]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[2]);

	/* busy behind the stub after an idle period: the stub's link from
	 * the period before (to msgs[0]) must be gone */
	assert_true(trp__mailbox_reclaim_sc(&mb));
	prev = half_push(&msgs[5].node);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	finish_push(prev, &msgs[5].node);
	TAKE(&msgs[5], NULL);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[5]);

	/* busy behind a node not yet taken: that one can be taken, the
	 * busy one not */
	assert_int_equal(push(&msgs[3]), TRP__MAILBOX_IDLE);
	prev = half_push(&msgs[4].node);
	TAKE(&msgs[3], NULL);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	finish_push(prev, &msgs[4].node);
	TAKE(&msgs[4], &msgs[3]);
	CLOSE(true, &msgs[4]);
}

/*
 * push_chain_mp: a chain is one push (one exchange, one tag seen) whose
 * nodes are taken in chain order after everything pushed before it, each
 * handed back by the next take like any other node.
 */
static void test_chain_push(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	assert_int_equal(push_chain(0, 2), TRP__MAILBOX_IDLE);
	assert_int_equal(push(&msgs[3]), 0);
	assert_int_equal(push_chain(4, 5), 0);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[5].node);
	TAKE(&msgs[0], NULL);
	/* the rest of the chain is still to take */
	MARK_IDLE(false, NULL);
	for (int i = 1; i <= 5; i++)
		TAKE(&msgs[i], &msgs[i - 1]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[5]);

	/* a chain of one is a push */
	assert_int_equal(push_chain(6, 6), TRP__MAILBOX_IDLE);
	TAKE(&msgs[6], NULL);
	MARK_IDLE(true, &msgs[6]);

	/* a chain caught between its exchange (of its last node) and its
	 * link: busy, though its inner links are all there */
	assert_int_equal(push(&msgs[7]), TRP__MAILBOX_IDLE);
	TAKE(&msgs[7], NULL);
	for (int i = 8; i < 10; i++)
		atomic_store_explicit(&msgs[i].node.next, &msgs[i + 1].node,
				      memory_order_relaxed);
	struct trp__mpsc_node *prev = half_push(&msgs[10].node);
	assert_ptr_equal(prev, &msgs[7].node);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[10].node);
	finish_push(prev, &msgs[8].node);
	for (int i = 8; i <= 10; i++)
		TAKE(&msgs[i], &msgs[i - 1]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[10]);

	/* the push ends the chain: a stale link in its last node (from the
	 * node's earlier life) must not show */
	atomic_store_explicit(&msgs[12].node.next, &msgs[0].node,
			      memory_order_relaxed);
	assert_int_equal(push_chain(11, 12), TRP__MAILBOX_IDLE);
	TAKE(&msgs[11], NULL);
	TAKE(&msgs[12], &msgs[11]);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[12]);
}

/* --------------------- keep-last: a push inside mark_idle / close -- */

/* What the hook does (run right after tag_if_empty's pre-check). */
static struct msg *hook_node;
static unsigned hook_tag;
static struct trp__mpsc_node *hook_prev;

static void hook_push(void)
{
	hook_tag = push(hook_node);
}

static void hook_half_push(void)
{
	hook_prev = half_push(&hook_node->node);
}

static void arm(void (*fn)(void), struct msg *m)
{
	hook_node = m;
	hook_tag = 99;
	hook_prev = NULL;
	after_head_load = fn;
}

/* cmocka teardown: a failed test must not leave the hook armed. */
static int disarm(void **state)
{
	(void)state;
	after_head_load = NULL;
	return 0;
}

/*
 * The tail is a real node. The pre-check passes (head == tail), the
 * consumer side is reset to the stub, a push lands, the CAS fails: the
 * node last taken must become the tail again (else the push's link, stored
 * into that node, is never seen) and must not be handed back (the producer
 * stores into it).
 */
static void test_push_inside_mark_idle(void **state)
{
	(void)state;
	for (int close = 0; close < 2; close++) {
		trp__mailbox_init(&mb, true);
		assert_int_equal(push(&msgs[0]), TRP__MAILBOX_IDLE);
		TAKE(&msgs[0], NULL);

		/* a whole push in the window */
		arm(hook_push, &msgs[1]);
		if (close)
			CLOSE(false, NULL);
		else
			MARK_IDLE(false, NULL);
		assert_int_equal(hook_tag, 0); /* the tag was never set */
		assert_false(trp__mailbox_is_idle(&mb));
		TAKE(&msgs[1], &msgs[0]);

		/* the exchange only, in the window; the link later */
		arm(hook_half_push, &msgs[2]);
		if (close)
			CLOSE(false, NULL);
		else
			MARK_IDLE(false, NULL);
		check_node("exchange's previous head", hook_prev, &msgs[1].node,
			   __FILE__, __LINE__);
		TAKE(NULL, NULL);
		MARK_IDLE(false, NULL);
		finish_push(hook_prev, &msgs[2].node);
		TAKE(&msgs[2], &msgs[1]);
		TAKE(NULL, NULL);
		if (close)
			CLOSE(true, &msgs[2]);
		else
			MARK_IDLE(true, &msgs[2]);
	}
}

/*
 * The tail is the stub: nothing was taken since the queue began (an actor
 * created scheduled, a thread actor) or since reclaim_sc. The stub is then
 * still in the queue, and a push in the window links behind it: mark_idle
 * must not reset stub.next (it is NULL already, or a link it must keep).
 * Each case: the whole push in the window, then only its exchange.
 */
static void stub_tail_case(bool close)
{
	arm(hook_push, &msgs[10]);
	if (close)
		CLOSE(false, NULL);
	else
		MARK_IDLE(false, NULL);
	assert_int_equal(hook_tag, 0);
	TAKE(&msgs[10], NULL); /* lost if stub.next was reset */
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[10]);
	assert_true(trp__mailbox_reclaim_sc(&mb)); /* the stub is the tail */

	arm(hook_half_push, &msgs[11]);
	if (close)
		CLOSE(false, NULL);
	else
		MARK_IDLE(false, NULL);
	check_node("exchange's previous head", hook_prev, &mb.stub, __FILE__,
		   __LINE__);
	TAKE(NULL, NULL);
	MARK_IDLE(false, NULL);
	finish_push(hook_prev, &msgs[11].node);
	TAKE(&msgs[11], NULL);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[11]);
}

static void test_stub_tail_keeps_link(void **state)
{
	(void)state;
	for (int close = 0; close < 2; close++) {
		/* created scheduled */
		trp__mailbox_init(&mb, false);
		stub_tail_case(close);

		/* after reclaim_sc, with nothing taken ever */
		trp__mailbox_init(&mb, true);
		assert_true(trp__mailbox_reclaim_sc(&mb));
		stub_tail_case(close);

		/* after a whole period (the stub was taken past, then reset
		 * by the idle mark) and reclaim_sc */
		trp__mailbox_init(&mb, true);
		push(&msgs[0]);
		push(&msgs[1]);
		TAKE(&msgs[0], NULL);
		TAKE(&msgs[1], &msgs[0]);
		MARK_IDLE(true, &msgs[1]);
		assert_true(trp__mailbox_reclaim_sc(&mb));
		stub_tail_case(close);

		/* without the seam: a whole push before the call */
		trp__mailbox_init(&mb, false);
		push(&msgs[12]);
		if (close)
			CLOSE(false, NULL);
		else
			MARK_IDLE(false, NULL);
		TAKE(&msgs[12], NULL);
	}
}

/* ------------------------------------------- keep-last: the others -- */

static void test_snapshot(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	/* empty: the stub is head and tail */
	assert_null(trp__mailbox_snapshot_sc(&mb));
	push(&msgs[0]);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[0].node);
	push(&msgs[1]);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[1].node);
	/* a turn bounded by the snapshot: nodes pushed after it wait */
	struct trp__mpsc_node *bound = trp__mailbox_snapshot_sc(&mb);
	push(&msgs[2]);
	int n = 0;
	struct trp__mpsc_node *node, *done;
	while ((node = trp__mailbox_take_sc(&mb, &done)) != NULL) {
		n++;
		if (node == bound)
			break;
	}
	assert_int_equal(n, 2);
	/* the newest is reported until it is taken (the taken msgs[1] is
	 * the tail, not counted) */
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[2].node);
	TAKE(&msgs[2], &msgs[1]);
	/* everything taken: head == tail (a real node): empty */
	assert_null(trp__mailbox_snapshot_sc(&mb));
	/* a push in progress already counts */
	struct trp__mpsc_node *prev = half_push(&msgs[3].node);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[3].node);
	finish_push(prev, &msgs[3].node);
	TAKE(&msgs[3], &msgs[2]);
	assert_null(trp__mailbox_snapshot_sc(&mb));
	MARK_IDLE(true, &msgs[3]);
	assert_true(trp__mailbox_reclaim_sc(&mb));
	/* after the idle period: the stub is head and tail again */
	assert_null(trp__mailbox_snapshot_sc(&mb));
	push(&msgs[4]);
	assert_ptr_equal(trp__mailbox_snapshot_sc(&mb), &msgs[4].node);
	TAKE(&msgs[4], NULL);
	assert_null(trp__mailbox_snapshot_sc(&mb));
}

static void test_is_idle(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	assert_false(trp__mailbox_is_idle(&mb));
	MARK_IDLE(true, NULL);
	assert_true(trp__mailbox_is_idle(&mb));
	push(&msgs[0]);
	assert_false(trp__mailbox_is_idle(&mb));
	TAKE(&msgs[0], NULL);
	assert_false(trp__mailbox_is_idle(&mb));
	CLOSE(true, &msgs[0]);
	/* closed is not idle */
	assert_false(trp__mailbox_is_idle(&mb));
}

/* The closed tag: the one push that finds it drains and re-closes. */
static void test_close(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	push(&msgs[0]);
	CLOSE(false, NULL);
	TAKE(&msgs[0], NULL);
	TAKE(NULL, NULL);
	CLOSE(true, &msgs[0]);
	assert_null(trp__mailbox_snapshot_sc(&mb));

	for (int period = 0; period < 3; period++) {
		assert_int_equal(push(&msgs[1]), TRP__MAILBOX_CLOSED);
		/* the tag is cleared: later pushes see nothing */
		assert_int_equal(push(&msgs[2]), 0);
		CLOSE(false, NULL);
		TAKE(&msgs[1], NULL);
		TAKE(&msgs[2], &msgs[1]);
		TAKE(NULL, NULL);
		CLOSE(true, &msgs[2]);
	}

	/* from idle: the actor ran (a push scheduled it), then stopped */
	trp__mailbox_init(&mb, true);
	assert_int_equal(push(&msgs[0]), TRP__MAILBOX_IDLE);
	TAKE(&msgs[0], NULL);
	TAKE(NULL, NULL);
	CLOSE(true, &msgs[0]);
	assert_int_equal(push(&msgs[1]), TRP__MAILBOX_CLOSED);
	TAKE(&msgs[1], NULL);
	TAKE(NULL, NULL);
	CLOSE(true, &msgs[1]);
	/* reclaim takes back the idle tag only */
	assert_false(trp__mailbox_reclaim_sc(&mb));
	assert_int_equal(push(&msgs[2]), TRP__MAILBOX_CLOSED);
}

/* reclaim_sc: the consumer takes an idle queue back without a push. */
static void test_reclaim(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, true);
	assert_true(trp__mailbox_reclaim_sc(&mb));
	assert_false(trp__mailbox_is_idle(&mb));
	/* ours now: a push does not schedule */
	assert_int_equal(push(&msgs[0]), 0);
	TAKE(&msgs[0], NULL);
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[0]);
	/* a push took the tag off first: reclaim fails, the push's
	 * scheduling stands, and the node is there */
	assert_int_equal(push(&msgs[1]), TRP__MAILBOX_IDLE);
	assert_false(trp__mailbox_reclaim_sc(&mb));
	TAKE(&msgs[1], NULL);
	/* not idle: nothing to take back */
	assert_false(trp__mailbox_reclaim_sc(&mb));
	TAKE(NULL, NULL);
	MARK_IDLE(true, &msgs[1]);
}

/* ------------------------------------ detaching pop (injection queue) -- */

static void test_pop_fifo(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	for (int i = 0; i < NMSG; i++)
		push(&msgs[i]);
	for (int i = 0; i < NMSG; i++) {
		struct msg *m = pop();
		assert_non_null(m);
		assert_int_equal(m->value, i);
	}
	assert_null(pop());

	/* interleaved pushes and pops keep order too */
	int next_in = 0, next_out = 0;
	for (int round = 0; round < 200; round++) {
		int k = 1 + round % 5;
		for (int i = 0; i < k && next_in - next_out < NMSG; i++) {
			push(&msgs[next_in % NMSG]);
			next_in++;
		}
		for (int i = 0; i < (round % 3) + 1 && next_out < next_in;
		     i++) {
			struct msg *m = pop();
			assert_non_null(m);
			assert_int_equal(m->value, next_out % NMSG);
			next_out++;
		}
	}
	while (next_out < next_in) {
		struct msg *m = pop();
		assert_non_null(m);
		assert_int_equal(m->value, next_out % NMSG);
		next_out++;
	}
	assert_null(pop());
}

static void test_pop_empty(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	assert_null(pop());
	assert_null(pop());
	assert_int_equal(push(&msgs[0]), 0);
	assert_ptr_equal(pop(), &msgs[0]);
	for (int i = 0; i < 3; i++)
		assert_null(pop());
	/* still usable */
	assert_int_equal(push(&msgs[1]), 0);
	assert_ptr_equal(pop(), &msgs[1]);
	assert_null(pop());
}

/* A producer between its exchange and its link store: pop returns NULL,
 * and delivers everything in order once the link lands. */
static void test_pop_busy(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);

	/* busy on an empty queue (prev is the stub) */
	struct trp__mpsc_node *prev = half_push(&msgs[0].node);
	assert_null(pop());
	finish_push(prev, &msgs[0].node);
	assert_ptr_equal(pop(), &msgs[0]);
	assert_null(pop());

	/* busy behind a real node: that node can be neither returned (its
	 * link is missing) nor left behind */
	push(&msgs[1]);
	prev = half_push(&msgs[2].node);
	assert_ptr_equal(prev, &msgs[1].node);
	assert_null(pop());
	assert_null(pop());
	/* more pushes behind the busy one */
	push(&msgs[3]);
	assert_null(pop());
	finish_push(prev, &msgs[2].node);
	for (int i = 1; i <= 3; i++)
		assert_ptr_equal(pop(), &msgs[i]);
	assert_null(pop());

	/* busy behind the tail after some pops: pop must not re-queue the
	 * stub behind a node whose link is missing. (The interleaving
	 * inside pop_sc - a push between its head load and its stub push -
	 * needs two threads: the stress test covers it.) */
	push(&msgs[4]);
	push(&msgs[5]);
	assert_ptr_equal(pop(), &msgs[4]); /* the tail is now msgs[5] */
	prev = half_push(&msgs[6].node);
	assert_ptr_equal(prev, &msgs[5].node);
	assert_null(pop());
	finish_push(prev, &msgs[6].node);
	assert_ptr_equal(pop(), &msgs[5]);
	assert_ptr_equal(pop(), &msgs[6]);
	assert_null(pop());
}

/* push 1, pop 1, repeatedly: every pop goes through the stub re-queue,
 * after which the stub is the only node in the queue. */
static void test_pop_stub_requeue(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	for (int i = 0; i < 1000; i++) {
		struct msg *m = &msgs[i % NMSG];
		assert_int_equal(push(m), 0);
		assert_ptr_equal(pop(), m);
		/* the re-queued stub is head and tail, with nothing after */
		assert_ptr_equal(atomic_load_explicit(&mb.head,
						      memory_order_relaxed),
				 &mb.stub);
		assert_ptr_equal(mb.tail, &mb.stub);
		assert_null(atomic_load_explicit(&mb.stub.next,
						 memory_order_relaxed));
		assert_null(pop());
	}
}

/* mailbox.h: a popped node is fully detached and may be reused at once. */
static void test_pop_node_reuse(void **state)
{
	(void)state;
	trp__mailbox_init(&mb, false);
	struct msg *m = &msgs[0];
	for (int i = 0; i < 100; i++) {
		push(m);
		assert_ptr_equal(pop(), m);
	}
	/* reuse while another node is still queued */
	push(&msgs[1]);
	push(&msgs[2]);
	assert_ptr_equal(pop(), &msgs[1]);
	push(&msgs[1]);
	assert_ptr_equal(pop(), &msgs[2]);
	assert_ptr_equal(pop(), &msgs[1]);
	assert_null(pop());
}

int main(void)
{
#define T(f) cmocka_unit_test_teardown(f, disarm)
	const struct CMUnitTest tests[] = {
		T(test_init),
		T(test_push_reports_idle_once_per_period),
		T(test_take_fifo),
		T(test_take_empty),
		T(test_done_hand_back),
		T(test_done_reuse),
		T(test_mark_idle_not_empty),
		T(test_busy_push),
		T(test_chain_push),
		T(test_push_inside_mark_idle),
		T(test_stub_tail_keeps_link),
		T(test_snapshot),
		T(test_is_idle),
		T(test_close),
		T(test_reclaim),
		T(test_pop_fifo),
		T(test_pop_empty),
		T(test_pop_busy),
		T(test_pop_stub_requeue),
		T(test_pop_node_reuse),
	};
#undef T
	return cmocka_run_group_tests(tests, setup, NULL);
}
