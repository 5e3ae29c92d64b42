/*
 * examples/common/node_args.c - see node_args.h.
 */
#include "node_args.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <troupe/node.h>

bool ex_nats_url_ok(const char *url)
{
	const char *p, *at, *host, *end;

	if (strncmp(url, "nats://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "tls://", 6) == 0)
		p = url + 6;
	else
		return false;
	at = strrchr(p, '@');
	host = at != NULL ? at + 1 : p;
	if (*host == '[') {
		end = strchr(host, ']');
		if (end == NULL || end == host + 1)
			return false;
		end++;
	} else {
		end = host;
		while (isalnum((unsigned char)*end) || *end == '.' ||
		       *end == '-')
			end++;
		if (end == host)
			return false;
	}
	if (*end == '\0')
		return true;
	if (*end != ':' || !isdigit((unsigned char)end[1]))
		return false;
	char *stop;
	errno = 0;
	long port = strtol(end + 1, &stop, 10);
	return errno == 0 && *stop == '\0' && port >= 1 && port <= 65535;
}

bool ex_cluster_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > TRP_NODE_TOKEN_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_')
			return false;
	return true;
}

/* Bad usage: one line, exit 2. */
static void die_usage(const char *program, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

static void die_usage(const char *program, const char *fmt, ...)
{
	char line[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s (see --help)\n", program, line);
	exit(2);
}

void ex_node_args_parse(const char *program, int argc, char **argv,
			const char *const *roles, int nroles,
			void (*usage)(FILE *out), struct ex_node_args *a)
{
	*a = (struct ex_node_args){ NULL, NULL, NULL };
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];

		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(o, "--nats") != 0 && strcmp(o, "--role") != 0 &&
		    strcmp(o, "--cluster") != 0)
			die_usage(program, "unknown option '%s'", o);
		if (i + 1 >= argc)
			die_usage(program, "%s needs a value", o);
		const char *v = argv[++i];
		if (strcmp(o, "--nats") == 0)
			a->url = v;
		else if (strcmp(o, "--role") == 0)
			a->role = v;
		else
			a->cluster = v;
	}
	if (a->url != NULL && !ex_nats_url_ok(a->url))
		die_usage(program,
			  "bad NATS URL '%s' (expected nats://HOST[:PORT])",
			  a->url);
	if (a->cluster != NULL && !ex_cluster_ok(a->cluster))
		die_usage(program,
			  "bad cluster name '%s' (1 to 32 of A-Z a-z 0-9 _ -)",
			  a->cluster);
	if (a->role != NULL) {
		char known[128] = "";
		int i;

		for (i = 0; i < nroles && strcmp(a->role, roles[i]) != 0; i++)
			;
		if (i == nroles) {
			/* "(alpha, beta or gamma)" */
			for (int k = 0; k < nroles; k++) {
				const char *sep = k == 0	  ? "" :
						  k == nroles - 1 ? " or " :
								    ", ";
				size_t used = strlen(known);

				snprintf(known + used, sizeof known - used,
					 "%s%s", sep, roles[k]);
			}
			die_usage(program, "unknown role '%s' (%s)", a->role,
				  known);
		}
		if (a->url == NULL)
			die_usage(program,
				  "--role %s needs --nats URL (a server you "
				  "started)",
				  a->role);
	}
}
