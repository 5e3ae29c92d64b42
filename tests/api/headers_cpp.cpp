/*
 * tests/api/headers_cpp.cpp - every public header compiles on its own as
 * C++11 (the only C++ in tests/).
 *
 * Built like headers_c.c: once per header in include/troupe/ with
 * TRP_TEST_HEADER naming it, as strict C++11 with -Wpedantic, and once
 * without it, for main(). Nothing here calls into the library.
 */
#ifdef TRP_TEST_HEADER

#include TRP_TEST_HEADER
#include TRP_TEST_HEADER /* a second inclusion must be a no-op */

#define TRP_TEST_CAT2(a, b) a##b
#define TRP_TEST_CAT(a, b) TRP_TEST_CAT2(a, b)
extern const int TRP_TEST_CAT(trp_test_header_cpp_, TRP_TEST_HEADER_ID);
const int TRP_TEST_CAT(trp_test_header_cpp_, TRP_TEST_HEADER_ID) = 1;

#else /* main */

#include <troupe/troupe.h>

#include <cstdio>
#include <type_traits>

// The declarations are usable from C++ as written (unevaluated: no link).
static_assert(std::is_same<decltype(trp_strerror(0)), const char *>::value,
	      "trp_strerror returns const char *");
static_assert(
	std::is_same<decltype(trp_send(nullptr, 0, nullptr, 0)), int>::value,
	"trp_send returns int");
static_assert(TRP_OK == 0, "TRP_OK is 0");

int main()
{
	trp_config_t cfg = TRP_CONFIG_INIT;
	trp_actor_def_t def = {};

	if (cfg.version != TRP_CONFIG_VERSION || def.behavior != nullptr)
		return 1;
	std::printf("public headers compile as C++11\n");
	return 0;
}

#endif
