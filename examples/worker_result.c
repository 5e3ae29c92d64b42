/*
 * examples/worker_result.c - the seeds' Worker and Result, through a future.
 *
 * Ports the Worker/Result pair of recipe 12.10 in
 * shared/seeds/cookbook-actor-exchange.txt:
 *
 *     worker = Worker(); worker.start()
 *     r = worker.submit(pow, 2, 3)
 *     print(r.result())
 *
 * submit() sends (func, args) with a Result the worker fills in; result()
 * waits for it. Here submit is trp_ask(): the request carries a function id
 * and its arguments (a function pointer would work within one process, but
 * an id keeps the request plain data), the worker actor computes and
 * answers with trp_reply(), and result() is trp_future_wait() on the
 * future trp_ask() handed back. The main thread is outside the runtime, so
 * it may block; inside a behaviour it would get TRP_EDEADLK.
 *
 * A request for an unknown function is answered with no reply at all, and
 * the future says so (TRP_ENOREPLY): the Python version would hang.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

enum {
	MSG_CALL = 1
};

enum fn_id {
	FN_POW = 1,
	FN_ADD = 2
};

/* What submit(func, *args) sends. */
struct call {
	uint32_t fn;
	uint32_t nargs;
	double args[2];
};

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "worker_result: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

/* pow for a whole exponent (no libm needed). */
static double ipow(double base, double exp)
{
	double r = 1.0;
	long n = (long)exp;

	for (long i = 0; i < (n < 0 ? -n : n); i++)
		r *= base;
	return n < 0 ? 1.0 / r : r;
}

/* run(): func, args, r = self.recv(); r.set_result(func(*args)) */
static void worker(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	struct call c;
	double result;
	int rc;

	(void)self;
	(void)state;
	if (msg->type != MSG_CALL || msg->size != sizeof(c))
		return; /* no reply: the asker sees TRP_ENOREPLY */
	memcpy(&c, msg->data, sizeof(c));
	switch (c.fn) {
	case FN_POW:
		result = ipow(c.args[0], c.args[1]);
		break;
	case FN_ADD:
		result = c.args[0] + c.args[1];
		break;
	default:
		return; /* unknown function: no reply */
	}
	rc = trp_reply(msg, &result, sizeof(result));
	if (rc != 0)
		fprintf(stderr, "worker_result: trp_reply: %s\n",
			trp_strerror(rc));
}

/* submit(func, *args): returns the future (the Result). */
static trp_future_t *submit(trp_actor_t *w, enum fn_id fn, double a, double b)
{
	struct call c = { (uint32_t)fn, 2, { a, b } };
	trp_future_t *f = NULL;

	check(trp_ask(w, MSG_CALL, &c, sizeof(c), &f), "trp_ask");
	return f;
}

/* r.result(): waits for the reply. */
static int result(trp_future_t *f, double *out)
{
	const trp_msg_t *reply = NULL;
	int rc = trp_future_wait(f, -1, &reply);

	if (rc == 0) {
		if (reply->size != sizeof(*out))
			return TRP_EINVAL;
		memcpy(out, reply->data, sizeof(*out));
	}
	return rc;
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { .behavior = worker };
	trp_runtime_t *rt;
	trp_actor_t *w;
	trp_future_t *r, *bad;
	struct call unknown = { 99, 0, { 0, 0 } };
	double v = 0;
	int status = 0;
	int rc;

	cfg.workers = 2;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");
	check(trp_actor_spawn(rt, &def, NULL, &w), "trp_actor_spawn");

	r = submit(w, FN_POW, 2, 3);
	check(result(r, &v), "result");
	printf("%g\n", v);
	trp_future_release(r);
	if (v != 8.0)
		status = 1;

	/* A function the worker does not know: the future reports it. */
	check(trp_ask(w, MSG_CALL, &unknown, sizeof(unknown), &bad), "trp_ask");
	rc = trp_future_wait(bad, -1, NULL);
	trp_future_release(bad);
	if (rc != TRP_ENOREPLY) {
		fprintf(stderr, "worker_result: unknown function gave %s\n",
			trp_errname(rc));
		status = 1;
	}

	check(trp_actor_close(w), "trp_actor_close");
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	trp_actor_release(w);
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");
	return status;
}
