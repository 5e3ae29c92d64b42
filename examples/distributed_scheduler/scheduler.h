/*
 * examples/distributed_scheduler/scheduler.h - what the two roles of the
 * distributed scheduler share: the message types, the node and actor
 * names, the bounds of every wait, and the few helpers main.c gives the
 * roles (see main.c for the program as a whole).
 */
#ifndef DS_SCHEDULER_H
#define DS_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <troupe/troupe.h>

#include "child_proc.h"

#define DS_PROGRAM "distributed_scheduler"

/* Node names (tokens of the cluster, troupe/node.h). */
#define DS_GREETER_NODE "greeter"
#define DS_COUNTER_NODE "counter"
/* The greeter's control actor: answers MSG_PING and MSG_QUIT asks. */
#define DS_CONTROL "greeter"
/* Default cluster name of the two-terminal mode; the one-command mode
 * uses "scheduler-<pid>", so that runs sharing a server never meet. */
#define DS_CLUSTER "scheduler"

/* The seed's start value (sched.send('counter', 10)). */
#define DS_START 10

enum {
	/* The seed's one message: a host-order int64_t n (both nodes run
	 * this program, on machines of one byte order). */
	MSG_INT = 1,
	/* Asks to the greeter's control actor; the reply is empty. */
	MSG_PING = 2,
	MSG_QUIT = 3
};

#define DS_MS 1000000LL
#define DS_SEC 1000000000LL
/* Bounds of the waits, in ns. */
#define DS_READY_NS (30 * DS_SEC)     /* the greeter answers a ping */
#define DS_PING_NS (1 * DS_SEC)	      /* one ping's answer */
#define DS_RUN_NS (30 * DS_SEC)	      /* the counter reaches 0 */
#define DS_QUIT_NS (10 * DS_SEC)      /* the greeter answers "quit" */
#define DS_IDLE_NS (10 * DS_SEC)      /* a runtime becomes idle */
#define DS_STOP_NS (2 * DS_SEC)	      /* trp_node_stop's goodbyes */
#define DS_LIFETIME_NS (300 * DS_SEC) /* a greeter waits for "quit" */
#define DS_EXIT_NS (15 * DS_SEC)      /* a greeter process exits */

/* Prints "distributed_scheduler (ROLE): MESSAGE" on stderr, one line. */
void ds_error(const char *role, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Starts a runtime of two workers and its node @name in @cluster at
 * @url. 0, or prints why and returns the troupe error (nothing is left
 * running). */
int ds_node_start(const char *role, const char *url, const char *cluster,
		  const char *name, trp_runtime_t **rt, trp_node_t **node);

/* The seed's message: the int64_t in @msg (MSG_INT), reporting anything
 * else as a failure of @role. */
int64_t ds_msg_int(const char *role, const trp_msg_t *msg);

/* The roles: each returns the process's exit status. */
int greeter_main(const char *url, const char *cluster);
/* @greeter: the greeter's process in the one-command mode (the counter
 * starts it once its own node runs, so that a bad server is reported
 * once, by the counter), NULL in the two-terminal mode. */
int counter_main(const char *url, const char *cluster,
		 struct ex_child *greeter);

/* Failures inside behaviours (a count the roles turn into status 1). */
void ds_fail(const char *role, const char *what, int rc);
int ds_failures(void);

#endif /* DS_SCHEDULER_H */
