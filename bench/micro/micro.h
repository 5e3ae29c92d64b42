/*
 * bench/micro/micro.h - the micro-benchmarks of troupe-microbench.
 *
 * Each bench/micro/<concept>.c measures one mechanism through the C shim
 * (bench/shim/cbench.h) and exposes micro_register_<concept>(), which
 * registers its benchmarks; main.c calls every one, then the shim's main.
 * Benchmarks may use internals (core/ headers via troupe_internal).
 */
#ifndef TROUPE_BENCH_MICRO_H
#define TROUPE_BENCH_MICRO_H

#include <stdbool.h>
#include <stdint.h>

#include "cbench.h"

void micro_register_mailbox(void);
void micro_register_deque(void);
void micro_register_message(void);
void micro_register_send(void);
void micro_register_names(void);
void micro_register_exchange(void);
void micro_register_sim(void);
void micro_register_metrics(void);
/* The WORKLOADS.md programs (workloads.c); @smoke: tiny sizes, 1 iteration. */
void micro_register_workloads(bool smoke);

/* Keeps the compiler from dropping a computed value. */
static inline void micro_use(const void *p)
{
	__asm__ volatile("" : : "r"(p) : "memory");
}

/* Backs off in a spin-wait: a pause, and a yield every 64 rounds (the
 * benchmark threads may outnumber the cores). */
void micro_spin(unsigned *round);

#endif /* TROUPE_BENCH_MICRO_H */
