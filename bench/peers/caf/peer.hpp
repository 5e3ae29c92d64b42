// troupe-peer-caf: shared declarations of the CLI (main.cpp) and the
// workloads (workloads.cpp). See main.cpp for the CLI and README.md in the
// parent directory for how it is built and run.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "caf/all.hpp"

namespace peer
{

// A workload's result, as troupe-bench's (and the Go peer's) line reports it.
struct result {
	uint64_t messages = 0; // messages the run moved (messages=)
	uint64_t items = 0;    // what rate= counts per second; 0 = messages
	double seconds = 0;    // first send to the last message processed
	bool ok = true;
	bool timed_out = false; // gave up waiting (--timeout): check=FAILED
	std::string extra;	// more " key=value" fields, no leading space
};

// What every run gets: the actor system (scheduler.max-threads = --workers)
// and how long main may wait for the all-done messages.
struct run_env {
	caf::actor_system &sys;
	std::chrono::steady_clock::time_point deadline;
};

using run_fn = result (*)(run_env &, const std::vector<uint64_t> &);

result run_storm(run_env &, const std::vector<uint64_t> &);
result run_storm_private(run_env &, const std::vector<uint64_t> &);
result run_pingpong(run_env &, const std::vector<uint64_t> &);
result run_ring(run_env &, const std::vector<uint64_t> &);
result run_fanin(run_env &, const std::vector<uint64_t> &);
result run_spawn(run_env &, const std::vector<uint64_t> &);
result run_pubsub(run_env &, const std::vector<uint64_t> &);
result run_skynet(run_env &, const std::vector<uint64_t> &);

// Monotonic nanoseconds.
inline uint64_t now_ns()
{
	return static_cast<uint64_t>(
		std::chrono::duration_cast<std::chrono::nanoseconds>(
			std::chrono::steady_clock::now().time_since_epoch())
			.count());
}

// Reports one failed check on stderr; returns false.
bool checkf(const char *workload, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

} // namespace peer
