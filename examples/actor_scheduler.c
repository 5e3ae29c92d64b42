/*
 * examples/actor_scheduler.c - the named-actor scheduler.
 *
 * Ports "并发网络应用程序" (ActorScheduler with say_hello, say_hi and counter)
 * from shared/seeds/python-actor-patterns.txt. The Python scheduler is a
 * queue of (generator, message) pairs; here each generator is an actor and
 * sched.send('counter', n) is trp_send_named(rt, "counter", ...).
 *
 * Output: the lines Python prints. Three actors run on two workers, so lines
 * of different actors may interleave differently; each actor's own lines
 * keep their order.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/troupe.h>

/* The one message type: a signed 64-bit integer n. */
enum {
	MSG_INT = 1
};

/* Failures inside behaviours; main turns any into exit status 1. */
static atomic_int failures;

static void fail(const char *what, int rc)
{
	fprintf(stderr, "actor_scheduler: %s: %s\n", what, trp_strerror(rc));
	atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

/* For calls made by main: report and exit. */
static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "actor_scheduler: %s: %s\n", what,
			trp_strerror(rc));
		exit(1);
	}
}

static int64_t msg_int(const trp_msg_t *msg)
{
	int64_t n = 0;

	if (msg->type != MSG_INT || msg->size != sizeof(n)) {
		fail("unexpected message", TRP_EINVAL);
		return 0;
	}
	memcpy(&n, msg->data, sizeof(n));
	return n;
}

static void say_hello(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	printf("say hello %lld\n", (long long)msg_int(msg));
}

static void say_hi(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	printf("say hi %lld\n", (long long)msg_int(msg));
}

static void send_int(trp_runtime_t *rt, const char *name, int64_t n)
{
	int rc = trp_send_named(rt, name, MSG_INT, &n, sizeof(n));

	if (rc != 0)
		fail(name, rc);
}

static void counter(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	trp_runtime_t *rt = trp_actor_runtime(self);
	int64_t n = msg_int(msg);
	int rc;

	(void)state;
	printf("counter: %lld\n", (long long)n);
	if (n == 0) {
		/* The generator's `break`: the actor ends, its name goes. */
		rc = trp_actor_stop(self);
		if (rc != 0)
			fail("trp_actor_stop", rc);
		return;
	}
	send_int(rt, "say_hello", n);
	send_int(rt, "say_hi", n);
	send_int(rt, "counter", n - 1);
}

/* sched.new_actor(name, actor): spawn, name it, drop our handle (a running
 * actor needs no handle; the name is how the others reach it). */
static void new_actor(trp_runtime_t *rt, const char *name, trp_behavior_fn fn)
{
	trp_actor_def_t def = { .behavior = fn };
	trp_actor_t *a;

	check(trp_actor_spawn(rt, &def, NULL, &a), "trp_actor_spawn");
	check(trp_register(rt, name, a), "trp_register");
	trp_actor_release(a);
}

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_runtime_t *rt;
	int64_t n = 10;

	cfg.workers = 2;
	check(trp_runtime_create(&cfg, &rt), "trp_runtime_create");

	new_actor(rt, "say_hello", say_hello);
	new_actor(rt, "say_hi", say_hi);
	new_actor(rt, "counter", counter);

	check(trp_send_named(rt, "counter", MSG_INT, &n, sizeof(n)),
	      "trp_send_named");
	/* sched.run(): until no message is left anywhere. */
	check(trp_runtime_wait_idle(rt, -1), "trp_runtime_wait_idle");
	check(trp_runtime_destroy(rt), "trp_runtime_destroy");

	return atomic_load_explicit(&failures, memory_order_relaxed) ? 1 : 0;
}
