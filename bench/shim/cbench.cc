// bench/shim/cbench.cc - see cbench.h. The only C++ in the project: each
// function forwards to Google Benchmark and nothing else (no timing here).

#include "cbench.h"

#include <benchmark/benchmark.h>

using benchmark::State;
using benchmark::internal::Benchmark;

namespace
{
State *S(cbench_state *st)
{
	return reinterpret_cast<State *>(st);
}

const State *S(const cbench_state *st)
{
	return reinterpret_cast<const State *>(st);
}

Benchmark *B(cbench *b)
{
	return reinterpret_cast<Benchmark *>(b);
}
} // namespace

extern "C" {

cbench *cbench_register(const char *name, cbench_fn fn, void *arg)
{
	Benchmark *b = benchmark::RegisterBenchmark(name, [fn, arg](State &st) {
		fn(reinterpret_cast<cbench_state *>(&st), arg);
	});
	return reinterpret_cast<cbench *>(b);
}

void cbench_min_time(cbench *b, double seconds)
{
	B(b)->MinTime(seconds);
}

void cbench_threads(cbench *b, int n)
{
	B(b)->Threads(n);
}

void cbench_use_real_time(cbench *b)
{
	B(b)->UseRealTime();
}

void cbench_use_manual_time(cbench *b)
{
	B(b)->UseManualTime();
}

void cbench_set_iteration_time(cbench_state *st, double seconds)
{
	S(st)->SetIterationTime(seconds);
}

void cbench_iterations_fixed(cbench *b, int64_t n)
{
	B(b)->Iterations(static_cast<benchmark::IterationCount>(n));
}

int cbench_keep_running(cbench_state *st)
{
	return S(st)->KeepRunning() ? 1 : 0;
}

int cbench_keep_running_batch(cbench_state *st, int64_t n)
{
	return S(st)->KeepRunningBatch(
		       static_cast<benchmark::IterationCount>(n)) ?
		       1 :
		       0;
}

int64_t cbench_iterations(const cbench_state *st)
{
	return static_cast<int64_t>(S(st)->iterations());
}

int cbench_thread_index(const cbench_state *st)
{
	return S(st)->thread_index();
}

int cbench_threads_running(const cbench_state *st)
{
	return S(st)->threads();
}

void cbench_set_items_processed(cbench_state *st, int64_t n)
{
	S(st)->SetItemsProcessed(n);
}

void cbench_counter(cbench_state *st, const char *name, double v, int is_rate)
{
	S(st)->counters[name] =
		benchmark::Counter(v, is_rate ? benchmark::Counter::kIsRate :
						benchmark::Counter::kDefaults);
}

void cbench_skip_with_error(cbench_state *st, const char *msg)
{
	S(st)->SkipWithError(msg);
}

int cbench_main(int argc, char **argv)
{
	benchmark::Initialize(&argc, argv);
	if (benchmark::ReportUnrecognizedArguments(argc, argv))
		return 1;
	benchmark::RunSpecifiedBenchmarks();
	benchmark::Shutdown();
	return 0;
}

} // extern "C"
