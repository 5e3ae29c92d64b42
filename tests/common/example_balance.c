/*
 * tests/common/example_balance.c - the examples' tests check the delivery
 * identity (tests/common/balance.h) without the examples carrying test
 * code: every tested example is linked with
 * -Wl,--wrap=trp_runtime_destroy (examples/CMakeLists.txt), so its call of
 * trp_runtime_destroy() comes here. This destroys the runtime with
 * trp_runtime_destroy_ex() and checks its final counters: everything the
 * example sent was processed or is a dead letter, each under one reason.
 * A broken identity is printed on stderr and the program exits with 1,
 * which fails its ctest (cmake/compare_output.cmake).
 *
 * The final counters are taken after the runtime stopped everything (the
 * examples wait for quiescence first; what shutdown dead-letters is
 * counted too), so this is the identity at quiescence and more.
 */
#include <stdio.h>
#include <stdlib.h>

#include <troupe/troupe.h>

#include "balance.h"

int __wrap_trp_runtime_destroy(trp_runtime_t *rt);

int __wrap_trp_runtime_destroy(trp_runtime_t *rt)
{
	trp_stats_t final;
	char why[256];
	int rc = trp_runtime_destroy_ex(rt, &final);
	if (rc == 0 && !balance_holds(&final, why, sizeof why)) {
		fprintf(stderr, "example: at trp_runtime_destroy: %s\n", why);
		exit(1);
	}
	return rc;
}
