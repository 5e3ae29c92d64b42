/*
 * examples/distributed_scheduler/counter.c - the node "counter": the
 * seed's counter, unchanged from examples/actor_scheduler.c. It still
 * sends to "say_hello" and "say_hi" by name; here those names are
 * registered to proxies for the actors of the node "greeter", so the
 * same trp_send_named() lines cross to the other process:
 *
 *     trp_node_proxy(node, "greeter", "say_hello", &p);
 *     trp_register(rt, "say_hello", p);
 *
 * Around the seed's run, what a distributed run adds:
 *   before  the greeter must be there: a message to a node that is not
 *           is lost (counted, never silent), so the counter starts only
 *           once the greeter's control actor answered a ping (bounded);
 *   after   "counter reaches 0" is our runtime going idle, as in the
 *           single-process run. The greeter may still be printing, so
 *           we ask it to quit: the ask travels behind every greeting in
 *           the one ordered stream from this node to the greeter's, and
 *           the greeter waits for its runtime to be idle before it
 *           stops. In the one-command mode we then wait for its process
 *           to exit (its last line is written), and stop our node last.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <troupe/node.h>
#include <troupe/troupe.h>

#include "scheduler.h"

#define ROLE "counter"

/* ---- the seed's counter, as in actor_scheduler.c ---- */

static void send_int(trp_runtime_t *rt, const char *name, int64_t n)
{
	int rc = trp_send_named(rt, name, MSG_INT, &n, sizeof(n));

	if (rc != 0)
		ds_fail(ROLE, name, rc);
}

static void counter(trp_actor_t *self, void *state, const trp_msg_t *msg)
{
	trp_runtime_t *rt = trp_actor_runtime(self);
	int64_t n = ds_msg_int(ROLE, msg);
	int rc;

	(void)state;
	printf("counter: %lld\n", (long long)n);
	if (n == 0) {
		/* The generator's `break`: the actor ends, its name goes. */
		rc = trp_actor_stop(self);
		if (rc != 0)
			ds_fail(ROLE, "trp_actor_stop", rc);
		return;
	}
	send_int(rt, "say_hello", n);
	send_int(rt, "say_hi", n);
	send_int(rt, "counter", n - 1);
}

/* ---- the distributed part ---- */

/* sched.new_actor(name, ...) for an actor that lives on the greeter's
 * node: a proxy, registered under the same name. The node's proxy table
 * keeps the proxy alive, so (as for a local actor) our handle goes. */
static int remote_actor(trp_runtime_t *rt, trp_node_t *node, const char *name)
{
	trp_actor_t *p;
	int rc = trp_node_proxy(node, DS_GREETER_NODE, name, &p);

	if (rc == 0) {
		rc = trp_register(rt, name, p);
		trp_actor_release(p);
	}
	if (rc != 0)
		ds_error(ROLE, "proxy for %s on node %s: %s", name,
			 DS_GREETER_NODE, trp_strerror(rc));
	return rc;
}

/* Asks the greeter's control actor @type; its answer within @timeout_ns:
 * 0, or the error (TRP_ENOTCONN: no node "greeter"; TRP_ENOENT: no
 * control actor yet; TRP_ETIMEDOUT). */
static int ask_control(trp_actor_t *ctl, uint32_t type, int64_t timeout_ns)
{
	trp_future_t *f;
	int rc = trp_ask(ctl, type, NULL, 0, &f);

	if (rc != 0)
		return rc;
	rc = trp_future_wait(f, timeout_ns, NULL);
	trp_future_release(f);
	return rc;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * DS_SEC + ts.tv_nsec;
}

/* Pings until the greeter answers, DS_READY_NS at most (each round
 * sleeps, so the rounds are bounded too). */
static int wait_for_greeter(trp_actor_t *ctl, struct ex_child *greeter,
			    const char *url, const char *cluster)
{
	const struct timespec pause = { 0, 50 * DS_MS };
	int64_t deadline = now_ns() + DS_READY_NS;
	bool told = false;
	int rc;

	for (;;) {
		rc = ask_control(ctl, MSG_PING, DS_PING_NS);
		if (rc == 0)
			return 0;
		if (rc != TRP_ENOTCONN && rc != TRP_ENOENT &&
		    rc != TRP_ETIMEDOUT) {
			ds_error(ROLE, "ping to the greeter: %s",
				 trp_strerror(rc));
			return rc;
		}
		if (!ex_child_running(greeter)) {
			char why[64];

			ds_error(ROLE,
				 "the greeter process %s before it answered",
				 ex_child_why(greeter, why, sizeof why));
			return TRP_ENOTCONN;
		}
		if (now_ns() > deadline) {
			ds_error(ROLE,
				 "no node \"%s\" answered in cluster \"%s\" at "
				 "%s within %lld s (last: %s)",
				 DS_GREETER_NODE, cluster, url,
				 (long long)(DS_READY_NS / DS_SEC),
				 trp_strerror(rc));
			return rc;
		}
		if (greeter == NULL && !told) {
			fprintf(stderr,
				DS_PROGRAM " (" ROLE "): waiting for the "
					   "greeter: run --role greeter --nats "
					   "%s --cluster %s\n",
				url, cluster);
			told = true;
		}
		nanosleep(&pause, NULL);
	}
}

static uint64_t lost_sum(trp_node_t *node)
{
	trp_node_stats_t st;
	uint64_t sum = 0;

	if (trp_node_stats(node, &st) != 0)
		return 0;
	for (int i = 0; i < TRP_LOSS_CAUSES; i++)
		sum += st.lost[i];
	return sum;
}

int counter_main(const char *url, const char *cluster, struct ex_child *greeter)
{
	trp_actor_def_t def = { .behavior = counter };
	trp_runtime_t *rt;
	trp_node_t *node;
	trp_actor_t *ctl = NULL, *cnt = NULL;
	uint64_t lost_before = 0;
	int64_t n = DS_START;
	int status = 1;
	int rc;

	if (ds_node_start(ROLE, url, cluster, DS_COUNTER_NODE, &rt, &node))
		return 1;
	if (ex_child_start(greeter) != 0)
		goto out;

	/* The seed's scheduler: say_hello and say_hi are names here too. */
	if (remote_actor(rt, node, "say_hello") != 0 ||
	    remote_actor(rt, node, "say_hi") != 0)
		goto out;
	rc = trp_node_proxy(node, DS_GREETER_NODE, DS_CONTROL, &ctl);
	if (rc != 0) {
		ds_error(ROLE, "proxy for the greeter's control: %s",
			 trp_strerror(rc));
		goto out;
	}
	if (wait_for_greeter(ctl, greeter, url, cluster) != 0)
		goto out;
	/* Pings before the greeter was there were lost (no responders);
	 * from here on nothing may be. */
	lost_before = lost_sum(node);

	/* sched.new_actor('counter', ...); sched.send('counter', 10);
	 * sched.run(). */
	rc = trp_actor_spawn(rt, &def, NULL, &cnt);
	if (rc == 0)
		rc = trp_register(rt, "counter", cnt);
	if (rc == 0)
		rc = trp_send_named(rt, "counter", MSG_INT, &n, sizeof(n));
	if (rc != 0) {
		ds_error(ROLE, "starting the counter: %s", trp_strerror(rc));
		goto out;
	}
	rc = trp_runtime_wait_idle(rt, DS_RUN_NS);
	if (rc != 0 || trp_actor_alive(cnt)) {
		ds_error(ROLE, "the counter did not reach 0 within %lld s (%s)",
			 (long long)(DS_RUN_NS / DS_SEC), trp_strerror(rc));
		goto out;
	}

	/* The counter is done; the greeter gets everything before "quit". */
	rc = ask_control(ctl, MSG_QUIT, DS_QUIT_NS);
	if (rc != 0) {
		char why[64];

		if (ex_child_running(greeter))
			ds_error(ROLE, "telling the greeter to quit: %s",
				 trp_strerror(rc));
		else
			ds_error(ROLE,
				 "telling the greeter to quit: %s (the "
				 "greeter process %s)",
				 trp_strerror(rc),
				 ex_child_why(greeter, why, sizeof why));
		goto out;
	}
	if (ex_child_wait(greeter, DS_EXIT_NS) != 0)
		goto out;
	if (lost_sum(node) != lost_before) {
		ds_error(ROLE, "%llu message(s) to the greeter were lost",
			 (unsigned long long)(lost_sum(node) - lost_before));
		goto out;
	}
	status = 0;

out:
	rc = trp_node_stop(node, DS_STOP_NS);
	if (rc != 0) {
		ds_error(ROLE, "trp_node_stop: %s", trp_strerror(rc));
		status = 1;
	}
	if (ctl != NULL)
		trp_actor_release(ctl);
	if (cnt != NULL)
		trp_actor_release(cnt);
	/* After a failure the runtime may not be idle: destroy stops what
	 * is left (and counts it as dead letters). */
	rc = trp_runtime_destroy(rt);
	if (rc != 0) {
		ds_error(ROLE, "trp_runtime_destroy: %s", trp_strerror(rc));
		status = 1;
	}
	fflush(stdout);
	return status != 0 || ds_failures() != 0 ? 1 : 0;
}
