/*
 * examples/common/node_args.h - command-line checks shared by the
 * distributed examples (distributed_scheduler, distributed_exchange).
 */
#ifndef TRP_EXAMPLES_NODE_ARGS_H
#define TRP_EXAMPLES_NODE_ARGS_H

#include <stdbool.h>

/* "nats://" or "tls://", an optional "user[:password]@", a host of
 * [A-Za-z0-9.-] or a bracketed IPv6 address, an optional ":PORT" of
 * 1..65535, nothing else. */
bool ex_nats_url_ok(const char *url);

/* A cluster name is a NATS subject token (troupe/node.h): 1 to
 * TRP_NODE_TOKEN_MAX characters of [A-Za-z0-9_-]. */
bool ex_cluster_ok(const char *s);

#endif /* TRP_EXAMPLES_NODE_ARGS_H */
