/*
 * tests/api/headers_c.c - every public header compiles on its own as C11.
 *
 * tests/CMakeLists.txt compiles this file once per header in include/troupe/
 * with TRP_TEST_HEADER naming it ("troupe/actor.h"), as strict C11 with
 * -Wpedantic, so the header comes first in its translation unit and must
 * include everything it uses; and once without it, for main(). Nothing here
 * calls into the library: the test needs include/ only.
 */
#ifdef TRP_TEST_HEADER

#include TRP_TEST_HEADER
#include TRP_TEST_HEADER /* a second inclusion must be a no-op */

/* ISO C forbids an empty translation unit; the name is unique per header. */
#define TRP_TEST_CAT2(a, b) a##b
#define TRP_TEST_CAT(a, b) TRP_TEST_CAT2(a, b)
extern const int TRP_TEST_CAT(trp_test_header_c_, TRP_TEST_HEADER_ID);
const int TRP_TEST_CAT(trp_test_header_c_, TRP_TEST_HEADER_ID) = 1;

#else /* main */

#include <troupe/troupe.h>

#include <stdio.h>

/* The X-macro table expands to a usable table in user code. */
#define TRP_TEST_ROW(name, value, text) { #name, (value), (text) },
static const struct {
	const char *name;
	int value;
	const char *text;
} error_table[] = { TRP_ERRNO_MAP(TRP_TEST_ROW) };

_Static_assert(TRP_OK == 0, "TRP_OK is 0");
_Static_assert(sizeof(error_table) / sizeof(error_table[0]) > 1,
	       "the error table has codes");

int main(void)
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = { 0 };
	size_t i;

	if (cfg.version != TRP_CONFIG_VERSION || def.behavior != NULL)
		return 1;
	for (i = 1; i < sizeof(error_table) / sizeof(error_table[0]); i++) {
		if (error_table[i].value >= 0 || error_table[i].text == NULL) {
			fprintf(stderr, "%s: code %d is not negative\n",
				error_table[i].name, error_table[i].value);
			return 1;
		}
	}
	printf("public headers compile as C11\n");
	return 0;
}

#endif
