/*
 * tests/common/balance.h - the delivery identity of troupe/runtime.h, the
 * one check every test that ends at quiescence makes:
 *
 *     sent == processed + dead_lettered
 *     dead_lettered == the sum of dead_by_reason[]
 *
 * Every accepted message is processed or a dead letter, and every dead
 * letter is counted under exactly one reason. The check itself is here,
 * once; the suites wrap it in their own way of failing:
 * api_assert_balanced (tests/api/api_util.h, cmocka), rt_assert_balanced
 * (tests/stress/rt_util.h, stress_fail) and, for the examples, a wrapper
 * of trp_runtime_destroy (tests/common/example_balance.c).
 *
 * Public API only; header-only (each test is one translation unit).
 */
#ifndef TRP_TESTS_COMMON_BALANCE_H
#define TRP_TESTS_COMMON_BALANCE_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <troupe/runtime.h>

/*
 * True if @s satisfies the identity; otherwise false with the counters
 * that break it written into @why (@len bytes, may be 0).
 */
static inline bool balance_holds(const trp_stats_t *s, char *why, size_t len)
{
	uint64_t by_reason = 0;
	for (int r = 0; r < TRP_DEAD_REASONS; r++)
		by_reason += s->dead_by_reason[r];
	if (s->sent == s->processed + s->dead_lettered &&
	    s->dead_lettered == by_reason && s->dead_by_reason[0] == 0)
		return true;
	if (len != 0)
		snprintf(why, len,
			 "delivery identity broken: sent %" PRIu64
			 " processed %" PRIu64 " dead_lettered %" PRIu64
			 " (by reason: stopped %" PRIu64 " shutdown %" PRIu64
			 " late reply %" PRIu64 ", all reasons %" PRIu64
			 ", reason 0 %" PRIu64 ")",
			 s->sent, s->processed, s->dead_lettered,
			 s->dead_by_reason[TRP_DEAD_STOPPED],
			 s->dead_by_reason[TRP_DEAD_SHUTDOWN],
			 s->dead_by_reason[TRP_DEAD_LATE_REPLY], by_reason,
			 s->dead_by_reason[0]);
	return false;
}

#endif /* TRP_TESTS_COMMON_BALANCE_H */
