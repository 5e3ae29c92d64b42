/*
 * tests/common/nats_server.h - a nats-server for tests, benchmarks and
 * examples: start one (or a cluster) on loopback with free ports, stop it
 * by its PID, kill it for failure tests, restart it on the same ports.
 *
 * Plain C11 + POSIX (plus two optional Linux calls, see nats_server.c); no
 * troupe and no NATS client dependency: bench/ and examples/ compile
 * nats_server.c by path.
 *
 * How a server starts (FACTS.md §6): fork + exec of
 *     nats-server -a 127.0.0.1 -p -1 --ports_file_dir DIR
 *                 [--cluster nats://127.0.0.1:-1 --cluster_name NAME
 *                  [--routes URL,...]] [extra args...]
 * with DIR a fresh mkdtemp() directory, TMPDIR/troupe-nats-<our pid>-XXXXXX.
 * "-p -1" lets the server pick a free port and write it to
 * DIR/nats-server_<pid>.ports (JSON), so there is no port race between
 * tests. The harness waits (bounded) for that file, parses it, and checks
 * that the client port accepts a TCP connection before it returns. The
 * server's stdout and stderr go to DIR/server.log (appended to across
 * restarts); on a failure the harness prints its tail. A process that dies
 * without stopping its servers (a sanitizer's abort, a ctest timeout)
 * leaves its directory: every start first removes those whose process is
 * gone and whose server no longer runs (TROUPE_NATS_KEEP=1 keeps them, and
 * keeps the directory of every stop as well).
 *
 * Which binary: nats_server_opts.binary, else $TROUPE_NATS_SERVER (CMake
 * passes find_program's result to the tests), else "nats-server" on PATH,
 * else /usr/sbin/nats-server (Debian installs it there, outside a user's
 * PATH).
 *
 * Every wait is bounded in time and in iterations; a parent that fails
 * mid-start kills and reaps its child; every child is reaped (no zombies).
 * On Linux the server also gets SIGKILL when the thread that started it
 * dies (PR_SET_PDEATHSIG), so a test killed by a ctest timeout leaves no
 * server behind: start servers from the test's main thread (or from a
 * thread that outlives them).
 *
 * Errors: functions return 0 or a negative errno-style value (-EINVAL,
 * -ETIMEDOUT, -ECHILD: the server exited, ...) and print one line on
 * stderr, "nats_server: <what failed>: <why>".
 *
 * Threads: a struct nats_server belongs to one thread at a time; different
 * servers may be driven from different threads. The functions do not
 * install signal handlers; they reap only their own child (waitpid on its
 * PID), so they coexist with other children of the process.
 */
#ifndef TRP_TESTS_COMMON_NATS_SERVER_H
#define TRP_TESTS_COMMON_NATS_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Room for "nats://127.0.0.1:65535" and other loopback URLs. */
#define NATS_SERVER_URL_MAX 64
/* Extra arguments kept for restarts: at most this many, each shorter than
 * NATS_SERVER_ARG_MAX bytes. */
#define NATS_SERVER_EXTRA_MAX 8
#define NATS_SERVER_ARG_MAX 256
/* Servers in one cluster (nats_server_cluster_start). */
#define NATS_SERVER_CLUSTER_MAX 8
/* Default bound of a start (ports file + TCP check), ms. */
#define NATS_SERVER_START_TIMEOUT_MS 10000
/* Default bound of a graceful stop before SIGKILL, ms. */
#define NATS_SERVER_STOP_TIMEOUT_MS 5000

struct nats_server_opts {
	/* Path or name of the binary; NULL: see "Which binary" above. */
	const char *binary;
	/* NULL-terminated extra arguments appended to the command line
	 * (copied: they need not outlive the call); NULL for none. */
	const char *const *extra_args;
	/* Non-NULL: cluster mode with this cluster name. */
	const char *cluster_name;
	/* Cluster mode: comma-separated route URLs ("nats://h:p,..."), or
	 * NULL (the first server of a cluster). */
	const char *routes;
	/* Client port: 0 picks a free one ("-p -1"); > 0 is fixed. */
	int port;
	/* Cluster port: 0 picks a free one; > 0 is fixed. */
	int cluster_port;
	/* Bound of the start, ms; 0: NATS_SERVER_START_TIMEOUT_MS. */
	int start_timeout_ms;
};

#define NATS_SERVER_OPTS_INIT                                                  \
	{                                                                      \
		NULL, NULL, NULL, NULL, 0, 0, 0                                \
	}

/* One server. Read the public fields; the rest is the harness's. A zeroed
 * struct (or one nats_server_stop() ended) is "not started". */
struct nats_server {
	/* Public, valid after a successful start. */
	pid_t pid;	  /* > 0 while a process runs; 0 after kill/stop */
	int port;	  /* client port */
	int cluster_port; /* 0 when not clustered */
	char url[NATS_SERVER_URL_MAX];	       /* "nats://127.0.0.1:PORT" */
	char cluster_url[NATS_SERVER_URL_MAX]; /* "" when not clustered */
	char dir[128];			       /* temporary directory */
	char log_path[160];		       /* DIR/server.log */
	int last_status; /* waitpid status of the last process that ended */

	/* Private: what a restart needs (copied at start). */
	char binary_[512];
	char cluster_name_[64];
	char routes_[NATS_SERVER_CLUSTER_MAX * NATS_SERVER_URL_MAX];
	char extra_[NATS_SERVER_EXTRA_MAX][NATS_SERVER_ARG_MAX];
	int nextra_;
	int start_timeout_ms_;
	int started_; /* dir exists and fields are filled */
};

/*
 * Starts a server with @o (NULL: NATS_SERVER_OPTS_INIT) into @s (its
 * previous contents are ignored). On success s->pid, url, port (and in
 * cluster mode cluster_url, cluster_port) are filled and the client port
 * accepts connections. On error nothing is left running and the directory
 * is removed (the log's tail was printed first).
 * Errors: -EINVAL (bad options), -E2BIG (too many or too long extra args
 * or routes), -ECHILD (the server exited during the start), -ETIMEDOUT (no
 * usable ports file or no TCP accept within the bound), -errno of a
 * failed system call (mkdtemp, open, fork).
 */
int nats_server_start(struct nats_server *s, const struct nats_server_opts *o);

/*
 * Stops the server gracefully (SIGTERM, then waits up to
 * NATS_SERVER_STOP_TIMEOUT_MS; SIGKILL if it has not exited), reaps it and
 * removes its directory. Also for a server that was killed already (just
 * the cleanup). Safe on a zeroed or stopped struct (returns 0). Afterwards
 * kill(old pid, 0) fails with ESRCH.
 * Errors: -ETIMEDOUT (the process did not die even after SIGKILL: it is
 * left to init), -errno of a failed kill(); the directory is removed in
 * every case.
 */
int nats_server_stop(struct nats_server *s);

/*
 * SIGKILLs the server and reaps it (a crash, for failure tests). The
 * directory and the options stay, so nats_server_restart() can bring it
 * back on the same ports; nats_server_stop() cleans up.
 * Errors: -EINVAL (not running), -ETIMEDOUT (not reaped within the bound).
 */
int nats_server_kill(struct nats_server *s);

/*
 * Like nats_server_kill() but graceful (SIGTERM, then SIGKILL after the
 * stop bound): the server closes its clients' connections cleanly. Keeps
 * the directory and options for a restart.
 */
int nats_server_halt(struct nats_server *s);

/*
 * Starts the server again with the same options on the same client and
 * cluster ports ("-p PORT", "--cluster nats://127.0.0.1:CPORT") and the
 * same routes, in the same directory (the log is appended to). If it is
 * still running it is halted first. Clients with reconnection enabled find
 * it at the same URL. Errors: as nats_server_start() (-EADDRINUSE is not
 * detected as such: a port taken meanwhile shows up as -ECHILD, the
 * server's log says why).
 */
int nats_server_restart(struct nats_server *s);

/*
 * Prints the last @lines lines (<= 0: 20) of the server's log to @out
 * (NULL: stderr), framed by a header naming the server. Reads at most the
 * last 64 KiB of the file.
 */
void nats_server_log_tail(const struct nats_server *s, FILE *out, int lines);

/*
 * Starts @n (2..NATS_SERVER_CLUSTER_MAX) servers as one cluster, a full
 * mesh: server i routes to servers 0..i-1 (so every pair has an explicit
 * route on one side, and any one server can be restarted and rejoin).
 * @o: base options (NULL: defaults); its cluster_name (NULL: "troupe"),
 * port, cluster_port and routes are overridden per server. Then waits
 * (bounded by the start timeout) until every server's log reports n-1
 * live routes ("Route connection created" minus "Router connection
 * closed" lines: nats-server 2.9's wording; see nats_server.c). A route
 * up is not yet interest propagated: a test that needs a message to
 * cross servers checks that with a client, in a bounded loop.
 * On error every server started so far is stopped.
 * Errors: -EINVAL, those of nats_server_start(), -ETIMEDOUT (mesh not
 * seen in time).
 */
int nats_server_cluster_start(struct nats_server *s, int n,
			      const struct nats_server_opts *o);

/* Stops @n servers (nats_server_stop on each); the first error, or 0. */
int nats_server_cluster_stop(struct nats_server *s, int n);

/*
 * Writes the client URLs of @n servers, comma-separated, into @buf (@len
 * bytes). Returns 0, or -E2BIG if they do not fit (buf is then "").
 */
int nats_server_cluster_urls(const struct nats_server *s, int n, char *buf,
			     size_t len);

/*
 * The parser of the ports file, exposed for the harness's self-test.
 * Parses the JSON object in @json (@len bytes) and copies the first URL
 * of the "nats" array into @nats_url (and its port into *@nats_port) and,
 * if @cluster_url is not NULL, the first URL of "cluster" (port into
 * *@cluster_port; the key is required then). Both URLs must be
 * "nats://HOST:PORT" with PORT in 1..65535. Unknown keys (arrays of
 * strings, strings, numbers, literals, nested objects) are skipped.
 * Returns 0, or -EINVAL (malformed, truncated, missing key, URL too long
 * for NATS_SERVER_URL_MAX).
 */
int nats_server_parse_ports(const char *json, size_t len, char *nats_url,
			    int *nats_port, char *cluster_url,
			    int *cluster_port);

#ifdef __cplusplus
}
#endif

#endif /* TRP_TESTS_COMMON_NATS_SERVER_H */
