/*
 * core/tap.c - the tap sink: counts what passes and prints one line per
 * message to a FILE (see troupe/exchange.h).
 *
 * Who may call: a publish, from any thread; several at once (the count is
 * atomic, the line is written under the FILE's own lock).
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>

#include "exchange.h"

void trp_tap_init(trp_tap_t *tap, FILE *out, const char *label)
{
	if (tap == NULL)
		return;
	tap->out = out;
	tap->label = label != NULL ? label : "tap";
	__atomic_store_n(&tap->count, 0, __ATOMIC_RELAXED);
}

unsigned long long trp_tap_count(const trp_tap_t *tap)
{
	/* relaxed: a statistic. */
	return tap != NULL ? __atomic_load_n(&tap->count, __ATOMIC_RELAXED) : 0;
}

void trp__tap_print(trp_tap_t *tap, const trp_msg_t *msg)
{
	/* relaxed: a statistic; __atomic builtins because the public struct
	 * must stay plain C (and C++) for users. */
	__atomic_fetch_add(&tap->count, 1, __ATOMIC_RELAXED);
	if (tap->out == NULL)
		return;
	const unsigned char *p = msg->data;
	size_t n = msg->size, shown = n > 64 ? 64 : n;
	bool text = true;
	for (size_t i = 0; i < shown; i++)
		if (!isprint(p[i]) && !(i == n - 1 && p[i] == '\0'))
			text = false;
	flockfile(tap->out);
	fprintf(tap->out, "%s: type=%u size=%zu", tap->label, msg->type, n);
	if (n != 0 && text) {
		size_t len = shown;
		if (len > 0 && p[len - 1] == '\0')
			len--;
		fprintf(tap->out, " data=\"%.*s\"%s", (int)len, (const char *)p,
			n > shown ? "..." : "");
	} else if (n != 0) {
		fputs(" data=", tap->out);
		for (size_t i = 0; i < shown && i < 32; i++)
			fprintf(tap->out, "%02x", p[i]);
		if (n > 32)
			fputs("...", tap->out);
	}
	fputc('\n', tap->out);
	funlockfile(tap->out);
}
