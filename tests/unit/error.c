/*
 * tests/unit/error.c - the TRP_ERRNO_MAP table and trp_strerror /
 * trp_errname: every code has a distinct, non-empty name and text that
 * match the table; unknown codes give "unknown error" / "TRP_E?" (never
 * NULL).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <string.h>

#include "troupe/error.h"

struct code {
	int value;
	const char *name;
	const char *text;
};

static const struct code codes[] = {
#define TRP__TEST_CODE(name, value, text) { value, #name, text },
	TRP_ERRNO_MAP(TRP__TEST_CODE)
#undef TRP__TEST_CODE
};

#define NCODES (sizeof codes / sizeof *codes)

static void test_table_matches_functions(void **state)
{
	(void)state;
	assert_true(NCODES >= 2);
	for (size_t i = 0; i < NCODES; i++) {
		const char *text = trp_strerror(codes[i].value);
		const char *name = trp_errname(codes[i].value);
		assert_non_null(text);
		assert_non_null(name);
		assert_true(text[0] != '\0');
		assert_string_equal(text, codes[i].text);
		assert_string_equal(name, codes[i].name);
		assert_true(strncmp(name, "TRP_", 4) == 0);
		assert_string_not_equal(text, "unknown error");
		assert_string_not_equal(name, "TRP_E?");
	}
}

static void test_codes_distinct(void **state)
{
	(void)state;
	for (size_t i = 0; i < NCODES; i++) {
		for (size_t j = i + 1; j < NCODES; j++) {
			assert_int_not_equal(codes[i].value, codes[j].value);
			assert_string_not_equal(trp_errname(codes[i].value),
						trp_errname(codes[j].value));
			assert_string_not_equal(trp_strerror(codes[i].value),
						trp_strerror(codes[j].value));
		}
	}
}

/* 0 is success; every error is negative (functions return -TRP_E...). */
static void test_values(void **state)
{
	(void)state;
	assert_int_equal(TRP_OK, 0);
	assert_string_equal(trp_errname(0), "TRP_OK");
	for (size_t i = 0; i < NCODES; i++) {
		if (strcmp(codes[i].name, "TRP_OK") == 0)
			assert_int_equal(codes[i].value, 0);
		else
			assert_true(codes[i].value < 0);
	}
	/* a few the runtime relies on by name */
	assert_string_equal(trp_errname(TRP_ENOMEM), "TRP_ENOMEM");
	assert_string_equal(trp_errname(TRP_EINVAL), "TRP_EINVAL");
	assert_string_equal(trp_errname(TRP_EDEAD), "TRP_EDEAD");
}

static void test_unknown(void **state)
{
	(void)state;
	int min = 0;
	for (size_t i = 0; i < NCODES; i++)
		if (codes[i].value < min)
			min = codes[i].value;
	static const int unknown[] = { 1, 2, 1000, INT_MAX, INT_MIN, -1000 };
	for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
		assert_string_equal(trp_strerror(unknown[i]), "unknown error");
		assert_string_equal(trp_errname(unknown[i]), "TRP_E?");
	}
	assert_string_equal(trp_strerror(min - 1), "unknown error");
	assert_string_equal(trp_errname(min - 1), "TRP_E?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table_matches_functions),
		cmocka_unit_test(test_codes_distinct),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_unknown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
