/*
 * core/request.c - deferred replies and forwarding (troupe/future.h,
 * trp_request_*): a behaviour takes the request it is handling and
 * answers it from a later turn, or forwards it to another actor.
 *
 * Taking moves the message's reference to its reply target (message.h)
 * into a handle and marks the message answered, so the turn (or trp_recv)
 * that finishes the message answers nothing (trp__request_done is a no-op
 * for an answered request) and a drain of a failed actor's message neither.
 * From then on the handle is the request: it ends exactly once, by its
 * holder (reply, fail, release), by a forward (the reference moves into a
 * new request message to another actor, who may take it in turn), or by
 * its holder's stop (TRP_EDEAD, this feature's actor_stopped hook). That
 * the asker sees one outcome is the target's own guarantee (a future's
 * PENDING -> COMPLETING CAS): nothing here depends on futures, so a remote
 * asker's target (nodes) takes the same path.
 *
 * Who answers: only the holder, on its own consumer: its behaviours and
 * hooks for an event actor (any later turn, on whichever worker runs it:
 * the hand-over of a turn between workers orders them), its own thread for
 * a thread actor. A holder's stop runs on that consumer too (actor.h: only
 * the consumer stops an actor), after its last behaviour. So a holder's
 * handles, their list and its stop are one sequential history: the
 * handles and lists are plain memory, the check is one comparison
 * (on_holder), and a handle is freed only by whoever uses it last.
 * Rejected: answering from any thread, with an atomic state per handle. A
 * stop and an answer from another thread would race to free the handle,
 * so it would need a reference count, and the user would have to release
 * every handle even after its holder stopped (a leak waiting to happen).
 * A holder that wants another thread to answer forwards the request to a
 * thread actor instead.
 *
 * The feature's state maps each holder to its list of held requests: a
 * chained hash table of holder records under a mutex, looked up when a
 * request is taken. An actor's record is made at its first take (which
 * also attaches the feature to the actor, actor.h, so that the
 * actor_stopped hooks run when it retires) and lives until it stops, so a
 * server that takes one request after another pays one lookup per take
 * and nothing per answer. Rejected: freeing a record when its list
 * empties (an allocation, a free and a second lock per request for such a
 * server), and a field in the actor (the actor layer knows no features;
 * the map is cold next to a send). The hook runs only for actors some
 * feature attached itself to; for those that never took a request it
 * returns after one relaxed load while no actor of the runtime has a
 * record, else after one lookup.
 *
 * Who may call: as troupe/future.h says. The map's mutex is the only
 * blocking; a future's answer may send (its continuation).
 */

#include "actor.h"
#include "alloc.h"
#include "dead_letter.h"
#include "message.h"
#include "platform.h"
#include "request.h"
#include "runtime.h"
#include "send.h"
#include "worker.h"
#include "troupe/future.h"

struct holder;

struct trp_request {
	struct trp__reply_to *to; /* the reference the request message held */
	struct holder *holder;
	struct trp_request *prev, *next; /* in the holder's list */
	struct trp_runtime *rt;
	/* the thread of a thread actor holder (thread_token()); NULL for an
	 * event actor, whose turns move between workers */
	const void *thread;
	uint32_t type; /* of the message it was taken from (dead letters) */
};

/* One actor's held requests, from its first take until it stops. The
 * list is its consumer's only; the map fields are under the feature's
 * lock. */
struct holder {
	struct holder *next;	 /* bucket chain (lock) */
	struct trp_actor *actor; /* identity only: removed before it retires */
	struct trp_request *first;
};

/* The feature's state (runtime.h). */
struct requests {
	/* Holder records in the map: written under the lock when one is
	 * made or removed, read (relaxed) first by the actor_stopped hook. */
	alignas(TRP_CACHELINE) _Atomic(uint32_t) nholders;
	/* the map: cold */
	alignas(TRP_CACHELINE) struct trp__mutex lock;
	struct holder **buckets; /* NULL until the first take */
	uint32_t nbuckets;	 /* 0 or a power of two */
};

#define FIRST_BUCKETS 16u

static struct requests *reqs_of(struct trp_runtime *rt)
{
	return trp__feature_state(rt, TRP__FEATURE_REQUESTS);
}

/* Its address names the calling thread (thread actor holders). */
static _Thread_local char t_thread;

static const void *thread_token(void)
{
	return &t_thread;
}

/* ------------------------------------------------------------------ */
/* the map                                                             */

static uint32_t bucket_of(const struct trp_actor *a, uint32_t nbuckets)
{
	/* Fibonacci hashing of the address (actors are 64-byte aligned). */
	uint64_t h = (uint64_t)(uintptr_t)a * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 32) & (nbuckets - 1);
}

/* The link that points at @a's record (*link NULL if it has none). Lock
 * held; the table exists. */
static struct holder **find_locked(struct requests *s,
				   const struct trp_actor *a)
{
	struct holder **link = &s->buckets[bucket_of(a, s->nbuckets)];
	while (*link != NULL && (*link)->actor != a)
		link = &(*link)->next;
	return link;
}

/* Doubles the table (first use: makes it). Lock held. Failing to grow
 * only makes chains longer; failing to make it is TRP_ENOMEM. */
static int grow_locked(struct requests *s)
{
	uint32_t n = s->nbuckets != 0 ? 2 * s->nbuckets : FIRST_BUCKETS;
	struct holder **b = trp__calloc(n, sizeof(struct holder *));
	if (b == NULL)
		return s->buckets != NULL ? 0 : TRP_ENOMEM;
	for (uint32_t i = 0; i < s->nbuckets; i++) {
		struct holder *h = s->buckets[i];
		while (h != NULL) {
			struct holder *next = h->next;
			uint32_t k = bucket_of(h->actor, n);
			h->next = b[k];
			b[k] = h;
			h = next;
		}
	}
	trp__free(s->buckets, 0);
	s->buckets = b;
	s->nbuckets = n;
	return 0;
}

/* @a's record, made if it has none (*@made); NULL on allocation
 * failure. */
static struct holder *holder_get(struct requests *s, struct trp_actor *a,
				 bool *made)
{
	struct holder *h = NULL;
	*made = false;
	trp__mutex_lock(&s->lock);
	/* relaxed: changed under this lock only. */
	if (atomic_load_explicit(&s->nholders, memory_order_relaxed) >=
		    s->nbuckets &&
	    grow_locked(s) != 0)
		goto out;
	struct holder **link = find_locked(s, a);
	h = *link;
	if (h == NULL) {
		h = trp__alloc(sizeof *h);
		if (h == NULL)
			goto out;
		h->actor = a;
		h->first = NULL;
		h->next = NULL;
		*link = h;
		/* relaxed: see requests_stopped. */
		atomic_fetch_add_explicit(&s->nholders, 1,
					  memory_order_relaxed);
		*made = true;
	}
out:
	trp__mutex_unlock(&s->lock);
	return h;
}

/* Removes @a's record from the map and returns it (NULL: none). */
static struct holder *holder_remove(struct requests *s,
				    const struct trp_actor *a)
{
	struct holder *h = NULL;
	trp__mutex_lock(&s->lock);
	if (s->buckets != NULL) {
		struct holder **link = find_locked(s, a);
		h = *link;
		if (h != NULL) {
			*link = h->next;
			/* relaxed: see requests_stopped. */
			atomic_fetch_sub_explicit(&s->nholders, 1,
						  memory_order_relaxed);
		}
	}
	trp__mutex_unlock(&s->lock);
	return h;
}

/* ------------------------------------------------------------------ */
/* handles                                                             */

/* Is the calling thread @q's holder's consumer (troupe/future.h,
 * "Threads")? An event actor's turns run on its runtime's workers, which
 * record the actor whose turn (or hook) they run; a thread actor's
 * consumer is its thread. */
static bool on_holder(const struct trp_request *q)
{
	if (q->thread != NULL)
		return q->thread == thread_token();
	struct trp__worker *w = trp__worker_of(q->rt);
	return w != NULL && w->current == q->holder->actor;
}

/* Takes @q off its holder's list (the holder's consumer only: no lock)
 * and frees it; returns its target reference, now the caller's. */
static struct trp__reply_to *detach(struct trp_request *q)
{
	struct holder *h = q->holder;
	struct trp__reply_to *r = q->to;
	if (q->prev != NULL)
		q->prev->next = q->next;
	else
		h->first = q->next;
	if (q->next != NULL)
		q->next->prev = q->prev;
	trp__free(q, sizeof *q);
	return r;
}

void trp__reply_late(struct trp__reply_to *r, uint32_t type, int status,
		     const void *data, size_t len)
{
	trp_msg_t late = { .type = type,
			   .status = status,
			   .size = status == 0 ? len : 0,
			   .data = status == 0 && len != 0 ? data : NULL };
	trp__dead_letter_unsent(r->rt, trp__worker_of(r->rt), NULL, &late,
				TRP_DEAD_LATE_REPLY);
}

int trp_request_take(const trp_msg_t *request, trp_request_t **out)
{
	if (request == NULL || out == NULL)
		return TRP_EINVAL;
	if (request != trp__current_msg) {
		/* Only the message being handled can be looked inside. With
		 * none, inside a turn, the behaviour handles a message that
		 * came in a bundle (never a request: send.c keeps requests
		 * out of bundles) or a hook runs: nothing can be a request. */
		struct trp__worker *w = trp__self_worker;
		return trp__current_msg == NULL && w != NULL &&
				       w->current != NULL ?
			       TRP_ENOTREQUEST :
			       TRP_EPERM;
	}
	struct trp__msg *m =
		(struct trp__msg *)(void *)((char *)request -
					    offsetof(struct trp__msg, pub));
	if (m->request == TRP__REQ_NONE)
		return TRP_ENOTREQUEST;
	if (m->request == TRP__REQ_ANSWERED)
		return TRP_EANSWERED;
	struct trp__reply_to *r = m->u.reply;
	struct trp_runtime *rt = r->rt;
	struct trp__worker *w = trp__worker_of(rt);
	/* The holder: on a worker, the event actor whose turn this is;
	 * elsewhere a thread actor's trp_recv, which only the request itself
	 * can name (it is handled by the actor it was sent to). */
	struct trp_actor *a = w != NULL ? w->current : r->receiver;
	trp__assert(a != NULL && a == r->receiver);
	if (trp__unlikely(a == NULL))
		return TRP_EPERM; /* a request sent without its receiver */
	struct trp_request *q = trp__alloc(sizeof *q);
	if (q == NULL)
		return TRP_ENOMEM;
	struct requests *s = reqs_of(rt);
	bool made;
	struct holder *h = holder_get(s, a, &made);
	if (h == NULL) {
		trp__free(q, sizeof *q);
		return TRP_ENOMEM;
	}
	if (made) {
		/* Its stop must run our hook. Outside our lock (no order
		 * between the two locks needed); it cannot have retired: it
		 * is running. */
		bool attached = trp__actor_attach(a);
		trp__assert(attached);
		(void)attached;
	}
	q->to = r;
	q->holder = h;
	q->rt = rt;
	q->thread = w == NULL ? thread_token() : NULL;
	q->type = request->type;
	q->prev = NULL;
	q->next = h->first;
	if (h->first != NULL)
		h->first->prev = q;
	h->first = q;
	/* The reference is the handle's now; the turn (trp__request_done)
	 * and a drain leave an answered request alone. */
	m->request = TRP__REQ_ANSWERED;
	m->u.reply = NULL;
	*out = q;
	return 0;
}

int trp_request_reply(trp_request_t *q, const void *data, size_t len)
{
	if (q == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (len > TRP_MSG_MAX)
		return TRP_EMSGSIZE;
	if (!on_holder(q))
		return TRP_EPERM;
	uint32_t type = q->type;
	trp__reply_answer(detach(q), type, 0, data, len, true);
	return 0;
}

int trp_request_fail(trp_request_t *q, int status)
{
	if (q == NULL || status >= 0)
		return TRP_EINVAL;
	if (!on_holder(q))
		return TRP_EPERM;
	uint32_t type = q->type;
	trp__reply_answer(detach(q), type, status, NULL, 0, true);
	return 0;
}

int trp_request_forward(trp_request_t *q, trp_actor_t *to, uint32_t type,
			const void *data, size_t len)
{
	if (q == NULL || to == NULL || (data == NULL && len != 0))
		return TRP_EINVAL;
	if (!on_holder(q))
		return TRP_EPERM;
	if (to->rt != q->rt)
		return TRP_EINVAL;
	struct trp__reply_to *r = q->to;
	struct trp_actor *was = r->receiver;
	/* Ours alone until the send publishes it (the message carrying it
	 * before was answered). */
	r->receiver = to;
	struct trp__send_opts opt = { .reply = r };
	int rc = trp__actor_send(to, type, data, len, &opt);
	if (rc != 0) {
		/* No message was made, or it came back undelivered (a
		 * closed mailbox hands the sender its own message): the
		 * reference is still the handle's. */
		r->receiver = was;
		return rc;
	}
	/* The new message holds the reference (and may be answered by now:
	 * r is not touched again). */
	(void)detach(q);
	return 0;
}

void trp_request_release(trp_request_t *q)
{
	if (q == NULL || !on_holder(q))
		return;
	uint32_t type = q->type;
	trp__reply_answer(detach(q), type, TRP_ENOREPLY, NULL, 0, false);
}

/* ------------------------------------------------------------------ */
/* the feature                                                         */

/*
 * An actor some feature attached itself to stopped: its record goes, and
 * every request it still holds completes with TRP_EDEAD. This runs on the
 * actor's consumer after its last behaviour and hook (stop.h), the thread
 * all its takes and answers ran on (or were ordered before, by the
 * hand-over of its turns or the join of the workers at shutdown). So if
 * it has a record, the store that counted it happens-before this load,
 * and coherence makes the load return that value or a later one; a later
 * one is lower only by other actors' removals of their own records. A
 * relaxed load is enough, and zero means the actor has no record.
 */
static void requests_stopped(struct trp_runtime *rt, void *state,
			     struct trp_actor *a)
{
	struct requests *s = state;
	(void)rt;
	/* relaxed: see above. */
	if (trp__likely(atomic_load_explicit(&s->nholders,
					     memory_order_relaxed) == 0))
		return;
	struct holder *h = holder_remove(s, a);
	if (h == NULL)
		return;
	for (struct trp_request *q = h->first, *next; q != NULL; q = next) {
		next = q->next;
		struct trp__reply_to *r = q->to;
		uint32_t type = q->type;
		trp__free(q, sizeof *q);
		trp__reply_answer(r, type, TRP_EDEAD, NULL, 0, false);
	}
	trp__free(h, sizeof *h);
}

/* Destroy, step 4: every actor stopped, so no record (and no request) is
 * left. */
static void requests_fini(struct trp_runtime *rt, void *state)
{
	struct requests *s = state;
	(void)rt;
	trp__assert(atomic_load_explicit(&s->nholders, memory_order_relaxed) ==
		    0);
	trp__free(s->buckets, 0);
	s->buckets = NULL;
	s->nbuckets = 0;
}

const struct trp__feature trp__feature_requests = {
	.name = "requests",
	.state_size = sizeof(struct requests),
	.fini = requests_fini,
	.actor_stopped = requests_stopped,
};
