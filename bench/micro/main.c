/*
 * bench/micro/main.c - troupe-microbench: every micro-benchmark, and the
 * WORKLOADS.md programs as workload/<name> (workloads.c), in one binary.
 * Options are Google Benchmark's (--benchmark_filter=REGEX,
 * --benchmark_format=json, --benchmark_min_time=SECONDS, ...), plus one of
 * ours, taken out of argv before Google Benchmark parses it:
 *
 *   --workload_size=bench|smoke  sizes of the workload/ benchmarks: bench
 *                  (default; ~0.1-0.5 s per iteration, 3 iterations) or
 *                  smoke (the ctest sizes, 1 iteration)
 *
 * The workload/ benchmarks run a fixed number of iterations whatever
 * --benchmark_min_time says; --benchmark_filter=-^workload/ leaves them out.
 */
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "micro.h"

#define SIZE_OPTION "--workload_size="

void micro_spin(unsigned *round)
{
	if ((++*round & 63) == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

/*
 * Removes every SIZE_OPTION argument from argv (the last one wins) and
 * sets *smoke from it. Returns false, after a message, for a bad value.
 */
static bool take_size_option(int *argc, char **argv, bool *smoke)
{
	int out = 1;

	for (int i = 1; i < *argc; i++) {
		const char *v;

		if (strncmp(argv[i], SIZE_OPTION, strlen(SIZE_OPTION)) != 0) {
			argv[out++] = argv[i];
			continue;
		}
		v = argv[i] + strlen(SIZE_OPTION);
		if (strcmp(v, "smoke") == 0) {
			*smoke = true;
		} else if (strcmp(v, "bench") == 0) {
			*smoke = false;
		} else {
			fprintf(stderr,
				"troupe-microbench: %s wants bench or smoke, "
				"not '%s'\n",
				SIZE_OPTION, v);
			return false;
		}
	}
	argv[out] = NULL;
	*argc = out;
	return true;
}

int main(int argc, char **argv)
{
	bool smoke = false;

	if (!take_size_option(&argc, argv, &smoke))
		return 1;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0)
			printf("troupe-microbench also takes %s"
			       "bench|smoke: the sizes of the workload/ "
			       "benchmarks (bench/micro/main.c)\n\n",
			       SIZE_OPTION);
	}
	micro_register_mailbox();
	micro_register_deque();
	micro_register_message();
	micro_register_send();
	micro_register_names();
	micro_register_exchange();
	micro_register_sim();
	micro_register_metrics();
	micro_register_workloads(smoke);
	return cbench_main(argc, argv);
}
