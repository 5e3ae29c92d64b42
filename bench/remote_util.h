/*
 * bench/remote_util.h - what the remote benchmarks (troupe-bench
 * remote_*, bench/peers/nats) need to run as two processes over one local
 * nats-server: start and stop the server, start the "far" process (this
 * same program again, with a hidden option) and talk to it over two pipes.
 *
 * Plain POSIX, no troupe: bench/peers/nats compiles this file too. Private
 * to the benchmarks and kept small on purpose, so that it can give way to
 * the shared test harness (tests/common/nats_server.h) once that exists.
 *
 * The far process protocol (both sides use these helpers):
 *   - the parent makes two pipes: the far's stdin (the parent writes
 *     nothing; it closes its end to say "stop") and the far's stdout (the
 *     far writes lines). The far's stderr is the parent's.
 *   - the far sets up, then writes "ready\n" (bench_far_ready);
 *   - the parent runs the workload, then closes the far's stdin
 *     (bench_far_stop); the far sees EOF (bench_far_wait_parent), cleans
 *     up, writes one last line (its counters, "key=value ..."), exits 0;
 *   - if the parent dies, the far sees EOF too and exits: nothing lingers.
 *     The nats-server child gets SIGKILL when the parent dies
 *     (PR_SET_PDEATHSIG).
 *
 * Threads: call from one thread (the one that runs the workload).
 */
#ifndef TROUPE_BENCH_REMOTE_UTIL_H
#define TROUPE_BENCH_REMOTE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* A nats-server started for one run. */
struct bench_nats_server {
	pid_t pid;    /* 0: not running */
	char url[96]; /* "nats://127.0.0.1:PORT" */
	char dir[64]; /* its --ports_file_dir (a mkdtemp directory) */
};

/*
 * Starts `nats-server -a 127.0.0.1 -p -1 --ports_file_dir DIR` (a free
 * loopback port, no race: the server writes the port it got into
 * DIR/nats-server_<pid>.ports) with its output to DIR/log, and waits up to
 * 5 s for that file. Returns 0, or -1 after a message on stderr (nothing
 * left running). The NATS_SERVER environment variable names another
 * binary.
 */
int bench_nats_server_start(struct bench_nats_server *s);

/* Stops the server (SIGTERM, then SIGKILL after 2 s) and removes DIR. */
void bench_nats_server_stop(struct bench_nats_server *s);

/* The far process of one run. */
struct bench_far {
	pid_t pid;     /* 0: not running */
	int to_far;    /* write end of its stdin; -1 once closed */
	int from_far;  /* read end of its stdout */
	char buf[512]; /* what was read past the last line */
	size_t len;
};

/*
 * Starts this program (/proc/self/exe) again with @argv (a NULL-terminated
 * array: argv[0] the program's name, then its arguments) as the
 * far process, and waits up to @timeout_ms for its "ready" line. Returns
 * 0, or -1 after a message on stderr (the child, if any, is killed and
 * reaped).
 */
int bench_far_start(struct bench_far *f, char *const argv[], int timeout_ms);

/*
 * Says stop (closes the far's stdin), reads its last line into @line (at
 * most @size bytes, "" if none came), waits up to @timeout_ms for it to
 * exit (then SIGKILL). Returns its exit status (0 = clean), or -1 if it
 * was killed or died of a signal.
 */
int bench_far_stop(struct bench_far *f, char *line, size_t size,
		   int timeout_ms);

/* Far side: says ready to the parent (stdout). */
void bench_far_ready(void);

/* Far side: blocks until the parent closes our stdin (or dies). */
void bench_far_wait_parent(void);

/*
 * Finds " key=N" (or "key=N" at the start) in @line and parses N (decimal,
 * unsigned). Returns false if absent or not a number.
 */
bool bench_line_u64(const char *line, const char *key, uint64_t *out);

/* A cluster / subject token unique to this process and run:
 * "<prefix><pid>x<run>" (at most @size bytes with the NUL). */
void bench_unique_token(char *buf, size_t size, const char *prefix);

#endif /* TROUPE_BENCH_REMOTE_UTIL_H */
