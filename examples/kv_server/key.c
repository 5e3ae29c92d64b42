/*
 * examples/kv_server/key.c - the key actor: one per key, owning its value.
 *
 * Every request for a key goes to its actor, so requests on one key are
 * serialized by the actor's mailbox (INCR needs no lock and no CAS) and
 * requests on different keys run in parallel on the workers. A burst of
 * requests (pipelined, or from many clients) is handled in one turn, and
 * the replies of that turn to the port are enqueued together (actor.h,
 * "Timing"): one atomic operation and at most one eventfd write for up
 * to 64 replies.
 *
 * Lifetime: an actor lives as long as the server (the loop's key table
 * holds its handle); DEL empties it. Redis's keyspace has no bound
 * either; expiring idle key actors is left out to keep the example short.
 */
#include <inttypes.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kv.h"

/* Replies up to this size are built on the stack and copied by trp_send. */
#define SMALL_REPLY 256

static void reply(struct kv_key_state *k, const struct kv_req *rq,
		  uint32_t type, int64_t ival, const char *data, size_t len)
{
	struct {
		struct kv_rep h;
		char buf[SMALL_REPLY];
	} small;
	struct kv_rep *r = &small.h;
	int rc;

	if (len > SMALL_REPLY) {
		r = malloc(sizeof(*r) + len);
		if (!r)
			return; /* the connection waits; see kv_server.c */
	}
	memset(r, 0, sizeof(*r));
	r->conn = rq->conn;
	r->seq = rq->seq;
	r->ival = ival;
	r->len = (uint32_t)len;
	if (len)
		memcpy(r->data, data, len);
	if (r == &small.h) {
		rc = trp_send(k->port, type, r, sizeof(*r) + len);
	} else {
		rc = trp_send_owned(k->port, type, r, sizeof(*r) + len, NULL);
		if (rc != 0)
			free(r);
	}
	/* rc != 0: the port is closed (shutdown); nobody waits any more. */
	(void)rc;
}

static int set_value(struct kv_key_state *k, const char *v, size_t len)
{
	if (len > k->cap || (k->cap > 4096 && len < k->cap / 4)) {
		char *n = realloc(k->val, len ? len : 1);

		if (!n)
			return -1;
		k->val = n;
		k->cap = len ? len : 1;
	}
	if (len)
		memcpy(k->val, v, len);
	k->len = len;
	k->exists = 1;
	return 0;
}

/* Redis's string2ll: the whole value, no spaces, no '+', no leading 0. */
static int value_ll(const struct kv_key_state *k, int64_t *out)
{
	char buf[24];
	char *end;
	long long v;

	if (!k->exists) {
		*out = 0;
		return 0;
	}
	if (k->len == 0 || k->len >= sizeof(buf))
		return -1;
	memcpy(buf, k->val, k->len);
	buf[k->len] = 0;
	if (buf[0] == '+' || buf[0] == ' ' || (buf[0] == '0' && k->len > 1) ||
	    (buf[0] == '-' && (k->len == 1 || buf[1] == '0')))
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (*end != 0 || errno != 0)
		return -1;
	*out = v;
	return 0;
}

/* Writes v in decimal at out (room for 20 digits and a sign); returns the
 * length. snprintf was a tenth of the loop-and-actor CPU time under
 * pipelined INCR (perf). */
static size_t fmt_i64(char *out, int64_t v)
{
	char tmp[24];
	size_t n = 0, len = 0;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		tmp[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		out[len++] = '-';
	while (n)
		out[len++] = tmp[--n];
	return len;
}

static void key_behavior(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct kv_key_state *k = state;
	const struct kv_req *rq = msg->data;
	char buf[48];
	int n;
	int64_t v;

	(void)self;
	if (msg->type != KV_REQ || msg->size < sizeof(*rq) ||
	    msg->size - sizeof(*rq) < rq->vlen)
		return;
	switch (rq->op) {
	case KV_GET:
		if (!k->exists) {
			reply(k, rq, KV_REP, 0, "$-1\r\n", 5);
			break;
		}
		if (k->len <= SMALL_REPLY - 32) {
			char out[SMALL_REPLY];

			n = snprintf(out, sizeof(out), "$%zu\r\n", k->len);
			memcpy(out + n, k->val, k->len);
			memcpy(out + n + k->len, "\r\n", 2);
			reply(k, rq, KV_REP, 0, out, (size_t)n + k->len + 2);
		} else {
			char *out = malloc(k->len + 32);

			if (!out)
				break;
			n = snprintf(out, 32, "$%zu\r\n", k->len);
			memcpy(out + n, k->val, k->len);
			memcpy(out + n + k->len, "\r\n", 2);
			reply(k, rq, KV_REP, 0, out, (size_t)n + k->len + 2);
			free(out);
		}
		break;
	case KV_SET:
		if (set_value(k, rq->val, rq->vlen) != 0)
			reply(k, rq, KV_REP, 0, "-ERR out of memory\r\n", 20);
		else
			reply(k, rq, KV_REP, 0, "+OK\r\n", 5);
		break;
	case KV_INCR:
		if (value_ll(k, &v) != 0) {
			static const char e[] = "-ERR value is not an integer "
						"or out of range\r\n";
			reply(k, rq, KV_REP, 0, e, sizeof(e) - 1);
			break;
		}
		if (v == INT64_MAX) {
			static const char e[] = "-ERR increment or decrement "
						"would overflow\r\n";
			reply(k, rq, KV_REP, 0, e, sizeof(e) - 1);
			break;
		}
		v++;
		buf[0] = ':';
		n = (int)fmt_i64(buf + 1, v);
		if (set_value(k, buf + 1, (size_t)n) != 0) {
			reply(k, rq, KV_REP, 0, "-ERR out of memory\r\n", 20);
			break;
		}
		memcpy(buf + 1 + n, "\r\n", 2);
		n += 3;
		reply(k, rq, KV_REP, 0, buf, (size_t)n);
		break;
	case KV_DEL:
		reply(k, rq, KV_PART, k->exists ? 1 : 0, NULL, 0);
		k->exists = 0;
		k->len = 0;
		if (k->cap > 4096) {
			free(k->val);
			k->val = NULL;
			k->cap = 0;
		}
		break;
	default:
		break;
	}
}

static void key_stop(trp_actor_t *self, void *state, trp_stop_reason_t why)
{
	struct kv_key_state *k = state;

	(void)self;
	(void)why;
	free(k->val);
	k->val = NULL;
}

const trp_actor_def_t kv_key_def = {
	.behavior = key_behavior,
	.stop = key_stop,
	.state_size = sizeof(struct kv_key_state),
};
