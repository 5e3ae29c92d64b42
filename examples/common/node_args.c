/*
 * examples/common/node_args.c - see node_args.h.
 */
#include "node_args.h"

#include <ctype.h>
#include <errno.h>
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
