/*
 * core/dead_letter.c - the one way a message becomes a dead letter (see
 * dead_letter.h).
 */
#include "dead_letter.h"

#include "actor.h"
#include "invariant.h"
#include "probes.h"
#include "scheduler.h"

void trp__dead_letter(struct trp_runtime *rt, struct trp__worker *w,
		      struct trp_actor *to, const trp_msg_t *msg,
		      trp_dead_reason_t why)
{
	trp__assert(why > 0 && why < TRP_DEAD_REASONS);
	if (rt->cfg.dead_letter != NULL)
		rt->cfg.dead_letter(rt->cfg.dead_letter_ctx, to, msg, why);
	trp__count(w, &trp__stats_of(rt, w)->dead[why], 1);
	TRP_PROBE2(dead_letter, to != NULL ? to->id : 0, why);
}

void trp__dead_letter_unsent(struct trp_runtime *rt, struct trp__worker *w,
			     struct trp_actor *to, const trp_msg_t *msg,
			     trp_dead_reason_t why)
{
	trp__count(w, &trp__stats_of(rt, w)->sent, 1);
	trp__dead_letter(rt, w, to, msg, why);
}
