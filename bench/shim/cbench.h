/*
 * bench/shim/cbench.h - a thin C API over Google Benchmark (1.7.1), so the
 * micro-benchmarks in bench/micro/ are plain C. The implementation,
 * cbench.cc, is the only C++ in the project.
 *
 * A benchmark is a function run by Google Benchmark's harness, which picks
 * the iteration count, repeats, times and reports (console, or JSON with
 * --benchmark_format=json). The function's own loop is the timed code:
 *
 *     static void bm(cbench_state *st, void *arg)
 *     {
 *             setup();                         // not timed
 *             while (cbench_keep_running_batch(st, 64))
 *                     for (int i = 0; i < 64; i++)
 *                             body();          // timed, our own code
 *             cbench_set_items_processed(st, cbench_iterations(st));
 *     }
 *
 * With cbench_threads(b, n) the function runs on n threads at once; every
 * thread runs the same number of iterations, and all of them pass the
 * first cbench_keep_running*() call together (a barrier) and leave the
 * last one together, so thread 0 may set shared state up before its first
 * call and tear it down after its last. Counters are summed over threads.
 *
 * Calling through the shim costs a few ns per keep_running call (an
 * out-of-line call into the library): use keep_running_batch for bodies
 * under ~50 ns. Debian's libbenchmark is a debug build and says so; the
 * timed loops are ours, compiled with our flags, so that does not matter.
 *
 * Threads: register and configure from main() before cbench_main(); the
 * state functions only from within the benchmark function, on its thread.
 */
#ifndef TROUPE_BENCH_CBENCH_H
#define TROUPE_BENCH_CBENCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct cbench cbench;		  /* a registered benchmark */
typedef struct cbench_state cbench_state; /* one run of it, per thread */
typedef void (*cbench_fn)(cbench_state *st, void *arg);

/* Registers @fn under @name (copied); @arg is passed to every call. */
cbench *cbench_register(const char *name, cbench_fn fn, void *arg);
/* Minimum measured time per run, overriding --benchmark_min_time. */
void cbench_min_time(cbench *b, double seconds);
/* Adds a run on @n threads; call once per thread count wanted. */
void cbench_threads(cbench *b, int n);
/* Reports wall-clock time (not the calling thread's CPU time). */
void cbench_use_real_time(cbench *b);
/* Runs exactly @n iterations instead of letting the harness choose. */
void cbench_iterations_fixed(cbench *b, int64_t n);
/* The benchmark times its iterations itself: each iteration reports its
 * duration with cbench_set_iteration_time (setup excluded). */
void cbench_use_manual_time(cbench *b);

/* True while more iterations are wanted (one per call). */
int cbench_keep_running(cbench_state *st);
/* With cbench_use_manual_time: the duration of the current iteration. */
void cbench_set_iteration_time(cbench_state *st, double seconds);
/* Like keep_running, @n iterations per call. */
int cbench_keep_running_batch(cbench_state *st, int64_t n);
/* Iterations this thread ran (after the loop: the total). */
int64_t cbench_iterations(const cbench_state *st);
/* This thread's index, 0..threads-1, and the thread count. */
int cbench_thread_index(const cbench_state *st);
int cbench_threads_running(const cbench_state *st);
/* items_per_second in the report: @n items in this thread's run. */
void cbench_set_items_processed(cbench_state *st, int64_t n);
/* A user counter @name = @v; @is_rate != 0 divides it by the time. */
void cbench_counter(cbench_state *st, const char *name, double v, int is_rate);
/* Reports an error for this run (no timing) with @msg. */
void cbench_skip_with_error(cbench_state *st, const char *msg);

/*
 * Parses the --benchmark_* options, runs the benchmarks they select and
 * reports. Returns 0, or 1 for unrecognized arguments.
 */
int cbench_main(int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif /* TROUPE_BENCH_CBENCH_H */
