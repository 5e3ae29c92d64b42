/*
 * examples/distributed_scheduler/greeter.c - the node "greeter": the
 * seed's say_hello and say_hi, unchanged from examples/actor_scheduler.c,
 * registered under their names. Registered names are what other nodes
 * reach, so nothing here knows that their messages come from another
 * process.
 *
 * Besides them, a control actor "greeter" (a thread actor: a blocking
 * receive loop with a deadline) answers the counter's two asks:
 *   MSG_PING  "are you there?": registered last, so an answer means
 *             say_hello and say_hi are there too;
 *   MSG_QUIT  the counter is done. Everything the counter sent before
 *             this ask came earlier in the one ordered stream from its
 *             node to ours, so it is in our runtime already: waiting
 *             for idle processes (prints) all of it; then the node stops.
 */
#include <stdio.h>
#include <time.h>

#include <troupe/node.h>
#include <troupe/troupe.h>

#include "scheduler.h"

#define ROLE "greeter"

static void say_hello(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	printf("say hello %lld\n", (long long)ds_msg_int(ROLE, msg));
}

static void say_hi(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	(void)self;
	(void)state;
	printf("say hi %lld\n", (long long)ds_msg_int(ROLE, msg));
}

/* The control thread's result: written by its thread, read by main after
 * trp_actor_join(). */
struct control {
	int rc; /* 0: told to quit; else why the loop ended */
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * DS_SEC + ts.tv_nsec;
}

static void control(trp_actor_t *self, void *arg)
{
	struct control *c = arg;
	int64_t deadline = now_ns() + DS_LIFETIME_NS;
	const trp_msg_t *msg;
	int rc;

	c->rc = TRP_ETIMEDOUT;
	while ((rc = trp_recv(self, deadline - now_ns(), &msg)) == 0) {
		if (msg->type != MSG_PING && msg->type != MSG_QUIT) {
			ds_fail(ROLE, "control: unexpected message",
				TRP_EINVAL);
			continue;
		}
		rc = trp_reply(msg, NULL, 0);
		if (rc != 0)
			ds_fail(ROLE, "control: trp_reply", rc);
		if (msg->type == MSG_QUIT) {
			c->rc = 0;
			return;
		}
	}
	c->rc = rc;
}

/* sched.new_actor(name, actor), as in actor_scheduler.c. */
static int new_actor(trp_runtime_t *rt, const char *name, trp_behavior_fn fn)
{
	trp_actor_def_t def = { .behavior = fn };
	trp_actor_t *a;
	int rc = trp_actor_spawn(rt, &def, NULL, &a);

	if (rc == 0) {
		rc = trp_register(rt, name, a);
		trp_actor_release(a);
	}
	if (rc != 0)
		ds_error(ROLE, "actor %s: %s", name, trp_strerror(rc));
	return rc;
}

int greeter_main(const char *url, const char *cluster)
{
	struct control ctl = { TRP_ETIMEDOUT };
	trp_runtime_t *rt;
	trp_node_t *node;
	trp_actor_t *c = NULL;
	int status = 1;
	int rc;

	if (ds_node_start(ROLE, url, cluster, DS_GREETER_NODE, &rt, &node))
		return 1;

	rc = new_actor(rt, "say_hello", say_hello);
	if (rc == 0)
		rc = new_actor(rt, "say_hi", say_hi);
	if (rc == 0) {
		rc = trp_thread_actor_spawn(rt, control, &ctl, &c);
		if (rc == 0)
			rc = trp_register(rt, DS_CONTROL, c);
		if (rc != 0)
			ds_error(ROLE, "control actor: %s", trp_strerror(rc));
	}
	/* Serve until the counter says quit (bounded by DS_LIFETIME_NS in
	 * the control loop; the join's bound is a margin above it). */
	if (rc == 0) {
		rc = trp_actor_join(c, DS_LIFETIME_NS + DS_SEC);
		if (rc != 0)
			ds_error(ROLE, "waiting for the counter: %s",
				 trp_strerror(rc));
		else if (ctl.rc != 0)
			ds_error(ROLE,
				 "no counter said quit within %lld s (%s)",
				 (long long)(DS_LIFETIME_NS / DS_SEC),
				 trp_strerror(ctl.rc));
		else
			status = 0;
	}
	/* The last say_hello and say_hi are in our runtime: print them. */
	rc = trp_runtime_wait_idle(rt, DS_IDLE_NS);
	if (rc != 0) {
		ds_error(ROLE, "waiting for the last greetings: %s",
			 trp_strerror(rc));
		status = 1;
	}
	rc = trp_node_stop(node, DS_STOP_NS);
	if (rc != 0) {
		ds_error(ROLE, "trp_node_stop: %s", trp_strerror(rc));
		status = 1;
	}
	if (c != NULL)
		trp_actor_release(c);
	rc = trp_runtime_destroy(rt);
	if (rc != 0) {
		ds_error(ROLE, "trp_runtime_destroy: %s", trp_strerror(rc));
		status = 1;
	}
	fflush(stdout);
	return status != 0 || ds_failures() != 0 ? 1 : 0;
}
