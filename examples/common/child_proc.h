/*
 * examples/common/child_proc.h - the distributed examples' child
 * processes (distributed_scheduler, distributed_exchange): in their
 * one-command mode they run their other nodes as copies of themselves,
 * "PROGRAM --role ROLE --nats URL --cluster NAME", and must never leave
 * one behind.
 *
 * A NULL struct ex_child * stands for a node run by hand in another
 * terminal: every call below then does nothing (ex_child_running says
 * true), so the code that waits for a node reads the same either way.
 *
 * The one-command mode's third kind of process, the nats-server, is
 * started by ex_server_start (through the tests' harness,
 * tests/common/nats_server.h).
 *
 * Errors are printed as one line on stderr, "PROGRAM: what".
 */
#ifndef TRP_EXAMPLES_CHILD_PROC_H
#define TRP_EXAMPLES_CHILD_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "nats_server.h"

struct ex_child {
	const char *program; /* for messages: "distributed_exchange" */
	const char *self;    /* this program (argv[0]), to exec */
	const char *role;    /* its --role, also its name in messages */
	const char *url;     /* its --nats */
	const char *cluster; /* its --cluster */
	pid_t pid;	     /* > 0 while it runs and is not reaped */
	int status;	     /* its waitpid status once reaped */
};

/* fork + exec of this program as the child @c describes. The child makes
 * only async-signal-safe calls before exec (this process may run threads
 * by now), inherits no descriptor but the standard three (a copy of our
 * NATS socket would keep our connection open after we close it) and is
 * killed by the kernel should this process die (PR_SET_PDEATHSIG).
 * 0, or prints why and returns -1. */
int ex_child_start(struct ex_child *c);

/* True while @c has not exited; reaps it when it has. */
bool ex_child_running(struct ex_child *c);

/* How a reaped @c ended ("exited with status 1", "was killed by signal
 * 9") into @buf; "is running" for a running one. Returns @buf. */
const char *ex_child_why(const struct ex_child *c, char *buf, size_t len);

/* Waits up to @timeout_ns for @c to exit: 0 if it exited with status 0;
 * otherwise prints why and returns -1 (one that outlived the bound is
 * killed). */
int ex_child_wait(struct ex_child *c, int64_t timeout_ns);

/* Ends @c: @sig, then SIGKILL if it has not exited within 2 s; reaps it.
 * Nothing for one already reaped. */
void ex_child_kill(struct ex_child *c, int sig);

/* Unless *@url is set already, starts a private nats-server on a free
 * loopback port (the binary: $TROUPE_NATS_SERVER, else PATH, else
 * /usr/sbin) into @srv and points *@url at it. @srv is zeroed first, so
 * nats_server_stop(@srv) is right on every path. 0, or prints why and
 * -1. */
int ex_server_start(const char *program, struct nats_server *srv,
		    const char **url);

#endif /* TRP_EXAMPLES_CHILD_PROC_H */
