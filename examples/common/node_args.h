/*
 * examples/common/node_args.h - the command line shared by the
 * distributed examples (distributed_scheduler, distributed_exchange):
 *
 *     PROGRAM [--nats URL] [--role ROLE] [--cluster NAME]   (any order)
 *     PROGRAM -h | --help
 */
#ifndef TRP_EXAMPLES_NODE_ARGS_H
#define TRP_EXAMPLES_NODE_ARGS_H

#include <stdbool.h>
#include <stdio.h>

/* "nats://" or "tls://", an optional "user[:password]@", a host of
 * [A-Za-z0-9.-] or a bracketed IPv6 address, an optional ":PORT" of
 * 1..65535, nothing else. */
bool ex_nats_url_ok(const char *url);

/* A cluster name is a NATS subject token (troupe/node.h): 1 to
 * TRP_NODE_TOKEN_MAX characters of [A-Za-z0-9_-]. */
bool ex_cluster_ok(const char *s);

struct ex_node_args {
	const char *url;     /* --nats, or NULL */
	const char *role;    /* --role, or NULL */
	const char *cluster; /* --cluster, or NULL */
};

/* Parses argv into @a and checks it: the URL (ex_nats_url_ok), the
 * cluster (ex_cluster_ok), the role (one of the @nroles @roles) and that a
 * role comes with a URL. -h or --help: @usage(stdout), exit status 0. On
 * bad usage prints "PROGRAM: what (see --help)" on stderr and exits with
 * status 2. */
void ex_node_args_parse(const char *program, int argc, char **argv,
			const char *const *roles, int nroles,
			void (*usage)(FILE *out), struct ex_node_args *a);

#endif /* TRP_EXAMPLES_NODE_ARGS_H */
