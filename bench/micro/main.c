/*
 * bench/micro/main.c - troupe-microbench: every micro-benchmark in one
 * binary. Options are Google Benchmark's (--benchmark_filter=REGEX,
 * --benchmark_format=json, --benchmark_min_time=SECONDS, ...).
 */
#include <sched.h>

#include "micro.h"

void micro_spin(unsigned *round)
{
	if ((++*round & 63) == 0)
		sched_yield();
	else
		__builtin_ia32_pause();
}

int main(int argc, char **argv)
{
	micro_register_mailbox();
	micro_register_deque();
	micro_register_message();
	micro_register_send();
	micro_register_names();
	micro_register_exchange();
	return cbench_main(argc, argv);
}
