/*
 * core/quiescence.c - activity accounting, outside threads, and waiting
 * for idle (see quiescence.h).
 */
#include "quiescence.h"

#include <limits.h>

#define IDLE_POLL_NS 10000000 /* wait_idle re-checks at least this often */

/* ------------------------------------------------------------------ */
/* activity and wake-ups                                               */

void trp__activity_inc(struct trp_runtime *rt)
{
	/* ORDER: seq_cst; the quiescence check reads activity, the
	 * injection length and activity again, and needs one total order
	 * with these updates. */
	atomic_fetch_add_explicit(&rt->activity, TRP__ACT_INC,
				  memory_order_seq_cst);
}

uint32_t trp__activity_dec(struct trp_runtime *rt)
{
	/* ORDER: seq_cst, as in trp__activity_inc; it also orders this
	 * update before the idle_waiters load (Dekker pair with
	 * trp_runtime_wait_idle). */
	uint64_t old = atomic_fetch_add_explicit(&rt->activity, TRP__ACT_DEC,
						 memory_order_seq_cst);
	trp__assert(TRP__ACT_COUNT(old) != 0);
	if (TRP__ACT_COUNT(old) == 1 &&
	    atomic_load_explicit(&rt->idle_waiters, memory_order_seq_cst) !=
		    0) {
		/* ORDER: release; the waiter re-reads everything anyway. */
		atomic_fetch_add_explicit(&rt->idle_seq, 1,
					  memory_order_release);
		trp__futex_wake(&rt->idle_seq, INT_MAX);
	}
	return TRP__ACT_COUNT(old) - 1;
}

int trp__outside_enter(struct trp_runtime *rt)
{
	trp__activity_inc(rt);
	/* ORDER: seq_cst pairs with destroy's seq_cst store of shutdown:
	 * either we see the flag or destroy sees our activity and waits. */
	if (atomic_load_explicit(&rt->shutdown, memory_order_seq_cst) != 0) {
		(void)trp__activity_dec(rt);
		return TRP_ESHUTDOWN;
	}
	return 0;
}

void trp__outside_leave(struct trp_runtime *rt)
{
	(void)trp__activity_dec(rt);
}

/* Blocks until the activity count is 0, or the deadline (ns, < 0: none)
 * passes. With @quiet, also requires an empty injection queue and an
 * unchanged activity word (nothing started meanwhile). */
int trp__wait_activity(struct trp_runtime *rt, int64_t timeout_ns, bool quiet)
{
	uint64_t deadline = trp__deadline(timeout_ns);
	int rc = 0;
	/* ORDER: seq_cst, Dekker pair with trp__activity_dec. */
	atomic_fetch_add_explicit(&rt->idle_waiters, 1, memory_order_seq_cst);
	for (;;) {
		/* ORDER: seq_cst loads, see trp__activity_inc. */
		uint32_t seq = atomic_load_explicit(&rt->idle_seq,
						    memory_order_seq_cst);
		uint64_t v1 = atomic_load_explicit(&rt->activity,
						   memory_order_seq_cst);
		if (TRP__ACT_COUNT(v1) == 0 &&
		    (!quiet ||
		     (atomic_load_explicit(&rt->inject_len,
					   memory_order_seq_cst) == 0 &&
		      atomic_load_explicit(&rt->activity,
					   memory_order_seq_cst) == v1)))
			break;
		int64_t wait = trp__remaining(timeout_ns, deadline);
		if (wait == 0) {
			rc = TRP_ETIMEDOUT;
			break;
		}
		/* re-check at least this often (see IDLE_POLL_NS) */
		if (wait < 0 || wait > IDLE_POLL_NS)
			wait = IDLE_POLL_NS;
		trp__futex_wait(&rt->idle_seq, seq, wait);
	}
	atomic_fetch_sub_explicit(&rt->idle_waiters, 1, memory_order_relaxed);
	return rc;
}

int trp_runtime_wait_idle(trp_runtime_t *rt, int64_t timeout_ns)
{
	int rc = trp__runtime_blocking_call(rt);
	if (rc == 0 && trp__unlikely(rt->sim != NULL))
		return rt->sim->wait_idle(rt, timeout_ns);
	return rc != 0 ? rc : trp__wait_activity(rt, timeout_ns, true);
}
