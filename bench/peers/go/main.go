// troupe-peer-go: the eight workloads of shared/WORKLOADS.md written the way
// a Go programmer would write them (goroutines and channels, stdlib only),
// to compare troupe with what many users would pick instead.
//
//	troupe-peer-go WORKLOAD [--PARAM VALUE]... [--workers W] [--runs R]
//
// Same CLI shape, parameter names, defaults and output line as troupe-bench
// (bench/cli.c), with runtime=go:
//
//	workload=storm runtime=go messages=30001000 seconds=1.234 rate=24312345
//	check=ok workers=2 counters=1000 n=10000 peak_rss_kb=5120
//
// (one line; wrapped here). A run whose check fails prints its details and a
// check=FAILED line (no rate) on stderr and exits 1 at once. Bad options
// print the usage on stderr and exit 2. GOMAXPROCS is set to --workers
// (default 2; 0 = every CPU). The garbage collector keeps its defaults
// (GOGC=100), as a Go user would run it.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type param struct {
	name, help    string
	def, min, max uint64
}

type result struct {
	messages uint64  // messages the run moved (messages=)
	items    uint64  // what rate= counts per second; 0 = messages
	seconds  float64 // first send to the last message processed
	ok       bool
	extra    string // more " key=value" fields, without the leading space
}

type workload struct {
	name, summary string
	params        []param
	run           func(v []uint64) result
}

var workloads = []workload{
	{"storm", "K counters and two shared named sinks (fan-in); K*(3N+1) messages",
		[]param{{"counters", "counter actors (K)", 1000, 1, 10000000},
			{"n", "value each counter starts from (N)", 10000, 0, 1000000000}},
		runStorm},
	{"storm_private", "the storm with two private sinks per counter (3K goroutines)",
		[]param{{"counters", "counter actors (K), each with 2 sinks", 1000, 1, 10000000},
			{"n", "value each counter starts from (N)", 10000, 0, 1000000000}},
		runStormPrivate},
	{"pingpong", "two goroutines bounce one message P times; round trips per second",
		[]param{{"p", "round trips (P)", 1000000, 1, 10000000000}},
		runPingpong},
	{"ring", "R goroutines pass one token T hops around a ring; hops per second",
		[]param{{"actors", "actors in the ring (R)", 1000, 1, 10000000},
			{"t", "hops the token makes (T)", 10000000, 0, 100000000000}},
		runRing},
	{"fanin", "4 producers send 1..M each to one consumer; 4M messages",
		[]param{{"m", "integers each producer sends (M)", 2500000, 1, 10000000000}},
		runFanin},
	{"spawn", "a spawner creates N goroutines; each gets one message, replies, exits",
		[]param{{"n", "actors to create (N)", 1000000, 1, 1000000000}},
		runSpawn},
	{"pubsub", "one named exchange, S subscribers, a publisher publishes 1..M",
		[]param{{"subscribers", "subscriber actors (S)", 100, 1, 100000},
			{"m", "integers published (M)", 100000, 1, 1000000000}},
		runPubsub},
	{"skynet", "a tree of 10^depth leaf goroutines (1,111,111 at depth 6)",
		[]param{{"depth", "levels below the root (10^depth leaves)", 6, 0, 8}},
		runSkynet},
}

func usage(f *os.File) {
	fmt.Fprintf(f, "usage: troupe-peer-go WORKLOAD [options]\n\n"+
		"common options:\n"+
		"  --workers W   GOMAXPROCS (default 2; 0 = online cores)\n"+
		"  --runs R      measured runs, one output line each (default 1)\n"+
		"  --help        this text\n")
	for _, w := range workloads {
		fmt.Fprintf(f, "\n%s: %s\n", w.name, w.summary)
		for _, p := range w.params {
			fmt.Fprintf(f, "  --%-11s %s (default %d, %d..%d)\n",
				p.name, p.help, p.def, p.min, p.max)
		}
	}
}

func badUsage(what, arg string) {
	if arg != "" {
		fmt.Fprintf(os.Stderr, "troupe-peer-go: %s '%s'\n\n", what, arg)
	} else {
		fmt.Fprintf(os.Stderr, "troupe-peer-go: %s\n\n", what)
	}
	usage(os.Stderr)
	os.Exit(2)
}

func peakRSSKB() int64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return ru.Maxrss // KiB on Linux
}

// checkf reports one failed check on stderr; returns false.
func checkf(w string, format string, a ...interface{}) bool {
	fmt.Fprintf(os.Stderr, "%s: check failed: %s\n", w, fmt.Sprintf(format, a...))
	return false
}

func main() {
	for _, a := range os.Args[1:] {
		if a == "--help" || a == "-h" {
			usage(os.Stdout)
			return
		}
	}
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		badUsage("missing WORKLOAD", "")
	}
	var w *workload
	for i := range workloads {
		if workloads[i].name == os.Args[1] {
			w = &workloads[i]
		}
	}
	if w == nil {
		badUsage("unknown workload", os.Args[1])
	}
	values := make([]uint64, len(w.params))
	for j, p := range w.params {
		values[j] = p.def
	}
	workers, runs := uint64(2), uint64(1)
	args := os.Args[2:]
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if !strings.HasPrefix(arg, "--") {
			badUsage("unknown option", arg)
		}
		name, val, hasVal := strings.Cut(arg[2:], "=")
		var dst *uint64
		var min, max uint64
		switch name {
		case "workers":
			dst, min, max = &workers, 0, 256
		case "runs":
			dst, min, max = &runs, 1, 1000
		default:
			for j, p := range w.params {
				if p.name == name {
					dst, min, max = &values[j], p.min, p.max
				}
			}
		}
		if dst == nil {
			badUsage("unknown option", arg)
		}
		if !hasVal {
			if i+1 >= len(args) {
				badUsage("missing value for", arg)
			}
			i++
			val = args[i]
		}
		v, err := strconv.ParseUint(val, 10, 64)
		if err != nil || v < min || v > max {
			badUsage("not a number or out of range:", val)
		}
		*dst = v
	}
	if workers == 0 {
		workers = uint64(runtime.NumCPU())
	}
	runtime.GOMAXPROCS(int(workers))

	for r := uint64(0); r < runs; r++ {
		res := w.run(values)
		var b strings.Builder
		fmt.Fprintf(&b, "workload=%s runtime=go messages=%d seconds=%.6f",
			w.name, res.messages, res.seconds)
		items := res.items
		if items == 0 {
			items = res.messages
		}
		if res.ok {
			rate := 0.0
			if res.seconds > 0 {
				rate = float64(items) / res.seconds
			}
			fmt.Fprintf(&b, " rate=%.0f check=ok", rate)
		} else {
			fmt.Fprintf(&b, " check=FAILED")
		}
		fmt.Fprintf(&b, " workers=%d", workers)
		for j, p := range w.params {
			fmt.Fprintf(&b, " %s=%d", p.name, values[j])
		}
		if res.extra != "" {
			fmt.Fprintf(&b, " %s", res.extra)
		}
		fmt.Fprintf(&b, " peak_rss_kb=%d\n", peakRSSKB())
		if !res.ok {
			os.Stderr.WriteString(b.String())
			os.Exit(1)
		}
		os.Stdout.WriteString(b.String())
	}
}

var clockBase = time.Now()

// nowNs is monotonic nanoseconds (time.Since reads the monotonic clock).
func nowNs() uint64 { return uint64(time.Since(clockBase)) }
