/*
 * examples/distributed_scheduler - the seeds' ActorScheduler ("并发网络应用
 * 程序", shared/seeds/python-actor-patterns.txt) across two processes:
 * say_hello and say_hi on the node "greeter", the counter on the node
 * "counter". It prints the seed's output, the same lines as
 * examples/actor_scheduler (the single-process port), and shows location
 * transparency: the counter's code is the single-process one; only its
 * names "say_hello" and "say_hi" are registered to proxies for the actors
 * of the other node (counter.c), and the greeter's actors do not know
 * that their messages come from another process (greeter.c).
 *
 * One command (starts a private nats-server on a free loopback port, runs
 * the greeter as a child process, the counter here, stops both and the
 * server, exits 0):
 *
 *     example_distributed_scheduler
 *
 * nats-server comes from $TROUPE_NATS_SERVER, else PATH, else /usr/sbin.
 * Against a server that is already running (same, without starting one):
 *
 *     example_distributed_scheduler --nats nats://127.0.0.1:4222
 *
 * By hand, in two terminals (start either first; the counter waits up to
 * 30 s for the greeter, the greeter up to 300 s for the counter's run):
 *
 *     nats-server -a 127.0.0.1 -p 4222
 *     example_distributed_scheduler --role greeter --nats nats://127.0.0.1:4222
 *     example_distributed_scheduler --role counter --nats nats://127.0.0.1:4222
 *
 * The greeter's terminal shows "say hello N" / "say hi N", the counter's
 * "counter: N"; both exit when the counter reached 0. --cluster NAME
 * (default "scheduler"; the one-command mode uses "scheduler-<pid>")
 * keeps separate runs on one server apart.
 *
 * Output: each line is printed by the process of the actor that prints it
 * (the greeter's child shares our stdout), one write per line (line
 * buffered; a pipe takes a line whole), so lines of the two processes
 * interleave but never mix; each actor's own lines keep their order.
 *
 * Errors: one line on stderr, "distributed_scheduler[ (role)]: what", and
 * exit status 1 (2 for bad usage). No process outlives the run: on every
 * path the child and the server are stopped by PID, and should this
 * process die, the kernel kills both (PR_SET_PDEATHSIG; the child
 * process is examples/common/child_proc.c).
 */
#define _GNU_SOURCE /* getpid under -std=gnu11 */

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <troupe/node.h>
#include <troupe/troupe.h>

#include "nats_server.h"
#include "node_args.h"
#include "scheduler.h"

/* ------------------------------------------------------ shared helpers -- */

void ds_error(const char *role, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (role != NULL)
		fprintf(stderr, DS_PROGRAM " (%s): %s\n", role, line);
	else
		fprintf(stderr, DS_PROGRAM ": %s\n", line);
	fflush(stderr);
}

/* Relaxed: a count read once the runtime is destroyed (its workers are
 * joined). */
static atomic_int failures;

void ds_fail(const char *role, const char *what, int rc)
{
	ds_error(role, "%s: %s", what, trp_strerror(rc));
	atomic_fetch_add_explicit(&failures, 1, memory_order_relaxed);
}

int ds_failures(void)
{
	return atomic_load_explicit(&failures, memory_order_relaxed);
}

int64_t ds_msg_int(const char *role, const trp_msg_t *msg)
{
	int64_t n = 0;

	if (msg->type != MSG_INT || msg->size != sizeof(n)) {
		ds_fail(role, "unexpected message", TRP_EINVAL);
		return 0;
	}
	memcpy(&n, msg->data, sizeof(n));
	return n;
}

int ds_node_start(const char *role, const char *url, const char *cluster,
		  const char *name, trp_runtime_t **rt, trp_node_t **node)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_node_config_t ncfg = TRP_NODE_CONFIG_INIT;
	const char *servers[1] = { url };
	int rc;

	cfg.workers = 2;
	rc = trp_runtime_create(&cfg, rt);
	if (rc != 0) {
		ds_error(role, "trp_runtime_create: %s", trp_strerror(rc));
		return rc;
	}
	ncfg.cluster = cluster;
	ncfg.name = name;
	ncfg.servers = servers;
	ncfg.nservers = 1;
	rc = trp_node_start(*rt, &ncfg, node);
	if (rc == TRP_ENOTCONN)
		ds_error(role, "no NATS server answered at %s", url);
	else if (rc != 0)
		ds_error(role, "node %s at %s: %s", name, url,
			 trp_strerror(rc));
	if (rc != 0)
		(void)trp_runtime_destroy(*rt);
	return rc;
}

/* ------------------------------------------------------ the command line -- */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: example_distributed_scheduler [--nats URL] "
		"[--cluster NAME]\n"
		"       example_distributed_scheduler --role greeter|counter "
		"--nats URL [--cluster NAME]\n"
		"The seeds' ActorScheduler on two nodes: say_hello and say_hi "
		"on \"greeter\",\n"
		"the counter on \"counter\". Without --role: both, the greeter "
		"as a child\n"
		"process, on a private nats-server unless --nats is given.\n");
}

static const char *const roles[] = { "greeter", "counter" };

int main(int argc, char **argv)
{
	const char *url, *role, *cluster;
	struct ex_node_args args;
	char own_cluster[TRP_NODE_TOKEN_MAX + 1];
	struct nats_server srv;
	struct ex_child greeter = { .program = DS_PROGRAM,
				    .self = argv[0],
				    .role = "greeter" };
	int status;

	/* One write per line, whoever shares our stdout (see above). */
	setvbuf(stdout, NULL, _IOLBF, 0);

	ex_node_args_parse(DS_PROGRAM, argc, argv, roles,
			   (int)(sizeof roles / sizeof roles[0]), usage, &args);
	url = args.url;
	role = args.role;
	cluster = args.cluster;

	if (role != NULL) {
		if (cluster == NULL)
			cluster = DS_CLUSTER;
		if (strcmp(role, "greeter") == 0)
			return greeter_main(url, cluster);
		return counter_main(url, cluster, NULL);
	}

	/* One command: a server (unless given), the greeter as a child
	 * process, the counter here. */
	if (cluster == NULL) {
		snprintf(own_cluster, sizeof own_cluster, DS_CLUSTER "-%ld",
			 (long)getpid());
		cluster = own_cluster;
	}
	if (ex_server_start(DS_PROGRAM, &srv, &url) != 0)
		return 1;
	greeter.url = url;
	greeter.cluster = cluster;
	status = counter_main(url, cluster, &greeter);
	/* Reaped on success; after a failure, end it. */
	ex_child_kill(&greeter, SIGTERM);
	if (nats_server_stop(&srv) != 0)
		status = 1;
	return status;
}
