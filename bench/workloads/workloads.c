/*
 * bench/workloads/workloads.c - the table of workloads (workloads.h).
 *
 * Adding a workload: bench/workloads/<name>.c defines `bench_<name>`,
 * workloads.h declares it, and the table below lists it; troupe-bench
 * and troupe-microbench (bench/micro/workloads.c, which gives it its
 * benchmark sizes) then both run it.
 */
#include <string.h>

#include "workloads.h"

const struct bench_workload *const bench_workloads[] = {
	&bench_storm,	     &bench_storm_private, &bench_pingpong,
	&bench_ring,	     &bench_fanin,	   &bench_spawn,
	&bench_pubsub,	     &bench_skynet,	   &bench_ask,
	&bench_restart,	     &bench_down,	   &bench_port,
	&bench_blocked_wake, &bench_idle,
};
const size_t bench_nworkloads =
	sizeof(bench_workloads) / sizeof(bench_workloads[0]);

const struct bench_workload *bench_workload_find(const char *name)
{
	for (size_t i = 0; i < bench_nworkloads; i++) {
		if (strcmp(bench_workloads[i]->name, name) == 0)
			return bench_workloads[i];
	}
	return NULL;
}
