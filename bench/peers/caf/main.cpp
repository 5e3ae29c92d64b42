// troupe-peer-caf: the eight workloads of shared/WORKLOADS.md written the way
// a CAF 0.17 programmer would write them (event-based actors returning
// behaviors, Debian's libcaf-dev), to compare troupe with CAF.
//
//   troupe-peer-caf WORKLOAD [--PARAM VALUE]... [--workers W] [--runs R]
//                   [--timeout S]
//
// Same CLI shape, parameter names, defaults and output line as troupe-bench
// (bench/cli.c) and the Go peer, with runtime=caf:
//
//   workload=storm runtime=caf messages=30001000 seconds=1.234 rate=24312345
//   check=ok workers=2 counters=1000 n=10000 peak_rss_kb=5120
//
// (one line; wrapped here). A run whose check fails prints its details and a
// check=FAILED line (no rate) on stderr and exits 1 at once. Bad options
// print the usage on stderr and exit 2. The scheduler gets --workers threads
// (scheduler.max-threads; default 2, 0 = online cores); every other CAF
// setting keeps its default (work stealing, unbounded max-throughput).
//
// --max-throughput N (CAF peer only, default 0 = CAF's default, unbounded)
// sets scheduler.max-throughput; see README.md for why it matters to the
// workloads that chunk their work through self-messages (fanin, spawn, pubsub).
//
// --timeout S (CAF peer only, default 300): main waits at most S seconds for
// a run's all-done messages; past that the run is check=FAILED with
// timeout=S, and the process exits 1 at once (std::_Exit) rather than wait
// for actors that may never finish in the actor system's destructor.
// Build: g++ -std=c++17 -O2 -DNDEBUG bench/peers/caf/*.cpp -lcaf_core -pthread
// (what bench/compare does, into build/peers/troupe-peer-caf).

#include "peer.hpp"

#include <sys/resource.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

namespace
{

struct param {
	const char *name;
	const char *help;
	uint64_t def, min, max;
};

struct workload {
	const char *name;
	const char *summary;
	std::vector<param> params;
	peer::run_fn run;
};

const std::vector<workload> workloads = {
	{ "storm",
	  "K counters and two shared named sinks (fan-in); K*(3N+1) messages",
	  { { "counters", "counter actors (K)", 1000, 1, 10000000 },
	    { "n", "value each counter starts from (N)", 10000, 0,
	      1000000000 } },
	  peer::run_storm },
	{ "storm_private",
	  "the storm with two private sinks per counter (3K actors)",
	  { { "counters", "counter actors (K), each with 2 sinks", 1000, 1,
	      10000000 },
	    { "n", "value each counter starts from (N)", 10000, 0,
	      1000000000 } },
	  peer::run_storm_private },
	{ "pingpong",
	  "two actors bounce one message P times; round trips per second",
	  { { "p", "round trips (P)", 1000000, 1, 10000000000ull } },
	  peer::run_pingpong },
	{ "ring",
	  "R actors pass one token T hops around a ring; hops per second",
	  { { "actors", "actors in the ring (R)", 1000, 1, 10000000 },
	    { "t", "hops the token makes (T)", 10000000, 0, 100000000000ull } },
	  peer::run_ring },
	{ "fanin",
	  "4 producers send 1..M each to one consumer; 4M messages",
	  { { "m", "integers each producer sends (M)", 2500000, 1,
	      10000000000ull } },
	  peer::run_fanin },
	{ "spawn",
	  "a spawner creates N actors; each gets one message, replies, quits",
	  { { "n", "actors to create (N)", 1000000, 1, 1000000000 } },
	  peer::run_spawn },
	{ "pubsub",
	  "one named group, S subscribers, a publisher publishes 1..M",
	  { { "subscribers", "subscriber actors (S)", 100, 1, 100000 },
	    { "m", "integers published (M)", 100000, 1, 1000000000 } },
	  peer::run_pubsub },
	{ "skynet",
	  "a tree of 10^depth leaf actors (1,111,111 at depth 6)",
	  { { "depth", "levels below the root (10^depth leaves)", 6, 0, 8 } },
	  peer::run_skynet },
};

void usage(FILE *f)
{
	std::fprintf(
		f,
		"usage: troupe-peer-caf WORKLOAD [options]\n\n"
		"common options:\n"
		"  --workers W   scheduler threads (default 2; 0 = online cores)\n"
		"  --runs R      measured runs, one output line each (default 1)\n"
		"  --timeout S   seconds to wait for a run before check=FAILED"
		" (default 300)\n"
		"  --max-throughput N  scheduler.max-throughput: messages an actor\n"
		"                handles per turn (default 0 = CAF's default, unbounded)\n"
		"  --help        this text\n");
	for (auto &w : workloads) {
		std::fprintf(f, "\n%s: %s\n", w.name, w.summary);
		for (auto &p : w.params)
			std::fprintf(
				f, "  --%-11s %s (default %llu, %llu..%llu)\n",
				p.name, p.help, (unsigned long long)p.def,
				(unsigned long long)p.min,
				(unsigned long long)p.max);
	}
}

[[noreturn]] void bad_usage(const char *what, const char *arg)
{
	if (arg)
		std::fprintf(stderr, "troupe-peer-caf: %s '%s'\n\n", what, arg);
	else
		std::fprintf(stderr, "troupe-peer-caf: %s\n\n", what);
	usage(stderr);
	std::exit(2);
}

long peak_rss_kb()
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return ru.ru_maxrss; // KiB on Linux
}

bool parse_u64(const char *s, uint64_t &out)
{
	if (!*s || *s < '0' || *s > '9')
		return false;
	errno = 0;
	char *end = nullptr;
	unsigned long long v = std::strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return false;
	out = v;
	return true;
}

} // namespace

bool peer::checkf(const char *workload, const char *fmt, ...)
{
	std::fprintf(stderr, "%s: check failed: ", workload);
	va_list ap;
	va_start(ap, fmt);
	std::vfprintf(stderr, fmt, ap);
	va_end(ap);
	std::fputc('\n', stderr);
	return false;
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; ++i)
		if (!std::strcmp(argv[i], "--help") ||
		    !std::strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		}
	if (argc < 2 || argv[1][0] == '-')
		bad_usage("missing WORKLOAD", nullptr);
	const workload *w = nullptr;
	for (auto &x : workloads)
		if (!std::strcmp(x.name, argv[1]))
			w = &x;
	if (!w)
		bad_usage("unknown workload", argv[1]);
	std::vector<uint64_t> values;
	for (auto &p : w->params)
		values.push_back(p.def);
	uint64_t workers = 2, runs = 1, timeout_s = 300, max_throughput = 0;
	for (int i = 2; i < argc; ++i) {
		const char *arg = argv[i];
		if (std::strncmp(arg, "--", 2) != 0)
			bad_usage("unknown option", arg);
		std::string name = arg + 2;
		const char *val = nullptr;
		std::string inline_val;
		auto eq = name.find('=');
		if (eq != std::string::npos) {
			inline_val = name.substr(eq + 1);
			name.resize(eq);
			val = inline_val.c_str();
		}
		uint64_t *dst = nullptr;
		uint64_t min = 0, max = 0;
		if (name == "workers") {
			dst = &workers, min = 0, max = 256;
		} else if (name == "runs") {
			dst = &runs, min = 1, max = 1000;
		} else if (name == "max-throughput") {
			dst = &max_throughput, min = 0, max = 1000000000;
		} else if (name == "timeout") {
			dst = &timeout_s, min = 1, max = 86400;
		} else {
			for (size_t j = 0; j < w->params.size(); ++j)
				if (name == w->params[j].name)
					dst = &values[j],
					min = w->params[j].min,
					max = w->params[j].max;
		}
		if (!dst)
			bad_usage("unknown option", arg);
		if (!val) {
			if (i + 1 >= argc)
				bad_usage("missing value for", arg);
			val = argv[++i];
		}
		uint64_t v;
		if (!parse_u64(val, v) || v < min || v > max)
			bad_usage("not a number or out of range:", val);
		*dst = v;
	}
	if (workers == 0) {
		workers = std::thread::hardware_concurrency();
		if (workers == 0)
			workers = 1;
	}

	for (uint64_t r = 0; r < runs; ++r) {
		peer::result res;
		{
			// One actor system per run: its start-up is not timed, and its
			// destructor waits until every actor of the run has quit.
			caf::actor_system_config cfg;
			cfg.set("scheduler.max-threads",
				static_cast<size_t>(workers));
			if (max_throughput != 0)
				cfg.set("scheduler.max-throughput",
					static_cast<size_t>(max_throughput));
			caf::actor_system sys{ cfg };
			peer::run_env env{
				sys, std::chrono::steady_clock::now() +
					     std::chrono::seconds(timeout_s)
			};
			res = w->run(env, values);
			if (res.timed_out) {
				res.ok = false;
				peer::checkf(
					w->name,
					"no all-done message within %llus (--timeout)",
					(unsigned long long)timeout_s);
			}
			if (res.timed_out) {
				// Leave before ~actor_system waits for actors that may never quit.
				std::string line =
					"workload=" + std::string(w->name) +
					" runtime=caf check=FAILED workers=" +
					std::to_string(workers);
				for (size_t j = 0; j < w->params.size(); ++j)
					line += std::string(" ") +
						w->params[j].name + "=" +
						std::to_string(values[j]);
				line += " timeout=" +
					std::to_string(timeout_s) +
					" peak_rss_kb=" +
					std::to_string(peak_rss_kb()) + "\n";
				std::fputs(line.c_str(), stderr);
				std::fflush(stdout);
				std::fflush(stderr);
				std::_Exit(1);
			}
		}
		char buf[256];
		std::string line;
		std::snprintf(
			buf, sizeof buf,
			"workload=%s runtime=caf messages=%llu seconds=%.6f",
			w->name, (unsigned long long)res.messages, res.seconds);
		line += buf;
		uint64_t items = res.items ? res.items : res.messages;
		if (res.ok) {
			double rate = res.seconds > 0 ?
					      double(items) / res.seconds :
					      0.0;
			std::snprintf(buf, sizeof buf, " rate=%.0f check=ok",
				      rate);
			line += buf;
		} else {
			line += " check=FAILED";
		}
		line += " workers=" + std::to_string(workers);
		for (size_t j = 0; j < w->params.size(); ++j)
			line += std::string(" ") + w->params[j].name + "=" +
				std::to_string(values[j]);
		if (!res.extra.empty())
			line += " " + res.extra;
		line += " peak_rss_kb=" + std::to_string(peak_rss_kb()) + "\n";
		if (!res.ok) {
			std::fputs(line.c_str(), stderr);
			return 1;
		}
		std::fputs(line.c_str(), stdout);
		std::fflush(stdout);
	}
	return 0;
}
