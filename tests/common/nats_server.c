/*
 * tests/common/nats_server.c - see nats_server.h.
 *
 * Between fork() and exec the child of a multithreaded parent may only
 * make async-signal-safe calls, so everything that allocates or searches
 * (the binary's path, argv, the log file, the fd limit) is prepared in the
 * parent, and the child only dup2s, closes, resets signals and execve()s.
 * execvp() is not on POSIX's async-signal-safe list (it may allocate to
 * walk PATH): the parent resolves the path itself.
 *
 * Two Linux-only calls, both optional: prctl(PR_SET_PDEATHSIG) so that a
 * test killed by ctest's timeout takes its server with it, and
 * close_range() to close inherited descriptors in one call (otherwise a
 * loop bounded by RLIMIT_NOFILE, capped). Closing them matters: a server
 * that inherited the test's client sockets would keep those connections
 * open after the test closed them.
 *
 * Rejected: a monitoring port (-m) and HTTP polling of /routez to see the
 * cluster mesh: it is one more port and an HTTP client; the route lines
 * of the server's own log say the same (nats_server_cluster_start).
 */
#if !defined(_GNU_SOURCE) && !defined(_DEFAULT_SOURCE)
#define _DEFAULT_SOURCE /* POSIX 2008 + syscall() on glibc */
#endif

#include "nats_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/prctl.h>
#include <sys/syscall.h>
#endif

#if defined(__GNUC__)
#define NS_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NS_PRINTF(f, a)
#endif

extern char **environ;

/* Poll period of the start and stop loops. */
#define POLL_MS 10
#define REAP_POLL_MS 2
/* Largest ports file we read (a few URLs). */
#define PORTS_FILE_MAX 4096
/* Deepest nesting the JSON skipper follows. */
#define JSON_DEPTH_MAX 8
/* Cap of the descriptor-closing loop when close_range is unavailable. */
#define CLOSE_FD_CAP 65536
/* How many times a restart retries a server that exited at once (its
 * port still held by a dying predecessor's socket). */
#define RESTART_TRIES 5

NS_PRINTF(1, 2) static void report(const char *fmt, ...);

static void report(const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "nats_server: %s\n", line);
	fflush(stderr);
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	/* An interrupted sleep is just a shorter poll period. */
	nanosleep(&ts, NULL);
}

/* Copies @src into @dst (@cap bytes); false if it does not fit. */
static bool copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		return false;
	memcpy(dst, src, n + 1);
	return true;
}

/* ------------------------------------------------------- ports file -- */

struct json {
	const char *p;
	const char *end;
};

static void json_ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
				 *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

static bool json_eat(struct json *j, char c)
{
	json_ws(j);
	if (j->p < j->end && *j->p == c) {
		j->p++;
		return true;
	}
	return false;
}

/*
 * A string at j->p (after whitespace). With @out, its contents are copied
 * (at most @cap - 1 bytes, NUL-terminated; longer is an error); \uXXXX is
 * refused there (no URL or key we want has one) but skipped otherwise.
 * Each iteration consumes input: bounded by the input's length.
 */
static bool json_string(struct json *j, char *out, size_t cap)
{
	size_t n = 0;
	if (!json_eat(j, '"'))
		return false;
	while (j->p < j->end) {
		char c = *j->p++;
		if (c == '"') {
			if (out != NULL)
				out[n] = '\0';
			return true;
		}
		if ((unsigned char)c < 0x20)
			return false;
		if (c == '\\') {
			if (j->p >= j->end)
				return false;
			c = *j->p++;
			switch (c) {
			case '"':
			case '\\':
			case '/':
				break;
			case 'b':
				c = '\b';
				break;
			case 'f':
				c = '\f';
				break;
			case 'n':
				c = '\n';
				break;
			case 'r':
				c = '\r';
				break;
			case 't':
				c = '\t';
				break;
			case 'u':
				if (out != NULL || j->end - j->p < 4)
					return false;
				j->p += 4;
				continue;
			default:
				return false;
			}
		}
		if (out != NULL) {
			if (n + 1 >= cap)
				return false;
			out[n++] = c;
		}
	}
	return false; /* truncated */
}

/* Skips one value of any kind; nesting bounded by JSON_DEPTH_MAX. */
static bool json_skip(struct json *j, int depth)
{
	json_ws(j);
	if (j->p >= j->end || depth > JSON_DEPTH_MAX)
		return false;
	char c = *j->p;
	if (c == '"')
		return json_string(j, NULL, 0);
	if (c == '[' || c == '{') {
		char close = c == '[' ? ']' : '}';
		j->p++;
		if (json_eat(j, close))
			return true;
		for (;;) {
			if (close == '}' &&
			    (!json_string(j, NULL, 0) || !json_eat(j, ':')))
				return false;
			if (!json_skip(j, depth + 1))
				return false;
			if (json_eat(j, close))
				return true;
			if (!json_eat(j, ','))
				return false;
		}
	}
	/* number or literal: a run of their characters */
	const char *start = j->p;
	while (j->p < j->end &&
	       strchr("0123456789+-.eEtruefalsn", *j->p) != NULL)
		j->p++;
	return j->p > start;
}

/* An array of strings whose first element is copied into @out. */
static bool json_first_string(struct json *j, char *out, size_t cap)
{
	if (!json_eat(j, '['))
		return false;
	if (!json_string(j, out, cap))
		return false; /* an empty array has no URL for us */
	for (;;) {
		if (json_eat(j, ']'))
			return true;
		if (!json_eat(j, ',') || !json_skip(j, 1))
			return false;
	}
}

/* "nats://HOST:PORT": the port, or -1. */
static int url_port(const char *url)
{
	static const char scheme[] = "nats://";
	if (strncmp(url, scheme, sizeof scheme - 1) != 0)
		return -1;
	const char *host = url + sizeof scheme - 1;
	const char *colon = strrchr(host, ':');
	if (colon == NULL || colon == host)
		return -1;
	const char *d = colon + 1;
	size_t nd = strlen(d);
	if (nd == 0 || nd > 5 || strspn(d, "0123456789") != nd)
		return -1;
	long port = strtol(d, NULL, 10);
	return port >= 1 && port <= 65535 ? (int)port : -1;
}

int nats_server_parse_ports(const char *json, size_t len, char *nats_url,
			    int *nats_port, char *cluster_url,
			    int *cluster_port)
{
	struct json j = { json, json + len };
	char key[32];
	char url[NATS_SERVER_URL_MAX];
	bool have_nats = false, have_cluster = false;

	if (json == NULL || nats_url == NULL || nats_port == NULL ||
	    (cluster_url != NULL && cluster_port == NULL))
		return -EINVAL;
	if (!json_eat(&j, '{'))
		return -EINVAL;
	if (!json_eat(&j, '}')) {
		for (;;) {
			/* A key longer than ours is not ours: skip it. */
			struct json save = j;
			if (!json_string(&j, key, sizeof key)) {
				j = save;
				if (!json_string(&j, NULL, 0))
					return -EINVAL;
				key[0] = '\0';
			}
			if (!json_eat(&j, ':'))
				return -EINVAL;
			bool is_nats = strcmp(key, "nats") == 0 && !have_nats;
			bool is_cluster = strcmp(key, "cluster") == 0 &&
					  cluster_url != NULL && !have_cluster;
			if (is_nats || is_cluster) {
				if (!json_first_string(&j, url, sizeof url))
					return -EINVAL;
				int port = url_port(url);
				if (port < 0)
					return -EINVAL;
				if (is_nats) {
					memcpy(nats_url, url, sizeof url);
					*nats_port = port;
					have_nats = true;
				} else {
					memcpy(cluster_url, url, sizeof url);
					*cluster_port = port;
					have_cluster = true;
				}
			} else if (!json_skip(&j, 1)) {
				return -EINVAL;
			}
			if (json_eat(&j, '}'))
				break;
			if (!json_eat(&j, ','))
				return -EINVAL;
		}
	}
	json_ws(&j);
	if (j.p != j.end) /* trailing bytes: not one whole object */
		return -EINVAL;
	if (!have_nats || (cluster_url != NULL && !have_cluster))
		return -EINVAL;
	return 0;
}

/* Reads and parses DIR/nats-server_<pid>.ports: 0, or -EAGAIN (not there
 * yet, or not complete: the server writes it non-atomically). */
static int read_ports(struct nats_server *s, pid_t pid, bool cluster)
{
	char path[sizeof s->dir + 48];
	char buf[PORTS_FILE_MAX];
	char url[NATS_SERVER_URL_MAX], curl[NATS_SERVER_URL_MAX];
	int port = 0, cport = 0;

	snprintf(path, sizeof path, "%s/nats-server_%ld.ports", s->dir,
		 (long)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -EAGAIN;
	size_t n = 0;
	while (n < sizeof buf) {
		ssize_t r = read(fd, buf + n, sizeof buf - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n == sizeof buf)
		return -EAGAIN; /* too big for a ports file: not ours */
	if (nats_server_parse_ports(buf, n, url, &port, cluster ? curl : NULL,
				    &cport) != 0)
		return -EAGAIN;
	memcpy(s->url, url, sizeof url);
	s->port = port;
	if (cluster) {
		memcpy(s->cluster_url, curl, sizeof curl);
		s->cluster_port = cport;
	}
	return 0;
}

/* ----------------------------------------------------------- process -- */

/* Waits up to @ms for @pid to exit and reaps it: 0 (status in *status,
 * -1 if someone else reaped it), or -ETIMEDOUT. */
static int reap(pid_t pid, int ms, int *status)
{
	int64_t deadline = now_ms() + ms;
	long rounds = ms / REAP_POLL_MS + 2;
	for (long i = 0; i < rounds; i++) {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid) {
			*status = st;
			return 0;
		}
		if (r < 0 && errno == ECHILD) {
			/* SIGCHLD ignored, or reaped elsewhere: gone. */
			*status = -1;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			break;
		if (now_ms() > deadline)
			break;
		sleep_ms(REAP_POLL_MS);
	}
	return -ETIMEDOUT;
}

/* Ends s->pid with @sig (SIGTERM: then SIGKILL after the stop bound) and
 * reaps it; s->pid is 0 afterwards in every case. */
static int end_process(struct nats_server *s, int sig)
{
	pid_t pid = s->pid;
	int status = 0, rc;
	if (pid <= 0)
		return -EINVAL;
	s->pid = 0;
	if (kill(pid, sig) != 0 && errno != ESRCH) {
		rc = -errno;
		report("kill(%ld, %d): %s", (long)pid, sig, strerror(errno));
		return rc;
	}
	rc = reap(pid, NATS_SERVER_STOP_TIMEOUT_MS, &status);
	if (rc != 0 && sig != SIGKILL) {
		report("pid %ld did not exit within %d ms of signal %d: "
		       "SIGKILL",
		       (long)pid, NATS_SERVER_STOP_TIMEOUT_MS, sig);
		if (kill(pid, SIGKILL) != 0 && errno != ESRCH)
			report("kill(%ld, SIGKILL): %s", (long)pid,
			       strerror(errno));
		rc = reap(pid, NATS_SERVER_STOP_TIMEOUT_MS, &status);
	}
	if (rc != 0) {
		report("pid %ld not reaped %d ms after SIGKILL", (long)pid,
		       NATS_SERVER_STOP_TIMEOUT_MS);
		return rc;
	}
	s->last_status = status;
	/* The dead server's ports file stays behind; a restart's server
	 * could get the same PID and must not find it. */
	char path[sizeof s->dir + 48];
	snprintf(path, sizeof path, "%s/nats-server_%ld.ports", s->dir,
		 (long)pid);
	(void)unlink(path);
	return 0;
}

/* The binary to run, as a path execve() takes: @want if it has a '/',
 * else searched on PATH, else /usr/sbin/<want>. */
static int resolve_binary(const char *want, char *out, size_t cap)
{
	if (want == NULL || *want == '\0')
		return -EINVAL;
	if (strchr(want, '/') != NULL) {
		if (!copy_str(out, cap, want))
			return -E2BIG;
		if (access(out, X_OK) != 0) {
			int rc = -errno;
			report("%s: not executable: %s", out, strerror(errno));
			return rc;
		}
		return 0;
	}
	const char *path = getenv("PATH");
	if (path == NULL || *path == '\0')
		path = "/usr/local/bin:/usr/bin:/bin";
	/* Each round consumes one PATH entry, then the fallback. */
	const char *p = path;
	for (;;) {
		const char *colon = strchr(p, ':');
		size_t n = colon != NULL ? (size_t)(colon - p) : strlen(p);
		/* An empty entry is the current directory. */
		int w = snprintf(out, cap, "%.*s%s%s", (int)n, p,
				 n == 0 ? "" : "/", want);
		if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
			return 0;
		if (colon == NULL)
			break;
		p = colon + 1;
	}
	int w = snprintf(out, cap, "/usr/sbin/%s", want);
	if (w > 0 && (size_t)w < cap && access(out, X_OK) == 0)
		return 0;
	report("%s not found on PATH nor in /usr/sbin (set TROUPE_NATS_SERVER "
	       "or install nats-server)",
	       want);
	out[0] = '\0';
	return -ENOENT;
}

/* In the child, between fork and execve: async-signal-safe calls only. */
static void child_exec(const char *bin, char *const argv[], int logfd,
		       int nullfd, pid_t parent, int maxfd)
{
#if defined(__linux__) && defined(PR_SET_PDEATHSIG)
	/* Die with the thread that started us; if the parent is gone
	 * already, the signal will never come: leave. */
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(126);
#else
	(void)parent;
#endif
	if (dup2(nullfd, STDIN_FILENO) < 0 || dup2(logfd, STDOUT_FILENO) < 0 ||
	    dup2(logfd, STDERR_FILENO) < 0)
		_exit(125);
	bool closed = false;
#if defined(__linux__) && defined(SYS_close_range)
	closed = syscall(SYS_close_range, 3u, ~0u, 0u) == 0;
#endif
	for (int fd = 3; !closed && fd < maxfd; fd++)
		close(fd);
	/* Dispositions set to "ignore" and blocked signals survive exec:
	 * the server must see SIGTERM (graceful stop) as usual. */
	struct sigaction dfl;
	memset(&dfl, 0, sizeof dfl);
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	int sigs[] = { SIGTERM, SIGINT,	 SIGHUP,  SIGPIPE,
		       SIGCHLD, SIGUSR1, SIGUSR2, SIGQUIT };
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &dfl, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(bin, argv, environ);
	static const char msg[] = "nats_server: execve of the server failed\n";
	ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)ignored;
	_exit(127);
}

/* Confirms that 127.0.0.1:@port (the client port) accepts a TCP
 * connection: true, or false by @deadline. */
static bool port_accepts(const struct nats_server *s, int64_t deadline)
{
	long rounds = (deadline - now_ms()) / POLL_MS + 2;
	for (long i = 0; i < rounds; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return false;
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
		struct sockaddr_in a;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_port = htons((uint16_t)s->port);
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		int r = connect(fd, (struct sockaddr *)&a, sizeof a);
		close(fd);
		if (r == 0)
			return true;
		if (now_ms() > deadline)
			break;
		sleep_ms(POLL_MS);
	}
	return false;
}

/*
 * Runs one server process in s->dir with the stored options, client port
 * @port and cluster port @cport (0: "-1", free), and waits until it is
 * usable. On error the process is killed and reaped; the directory stays.
 */
static int launch(struct nats_server *s, int port, int cport)
{
	bool cluster = s->cluster_name_[0] != '\0';
	char portarg[16], clusterarg[NATS_SERVER_URL_MAX];
	const char *argv[24 + NATS_SERVER_EXTRA_MAX];
	int argc = 0;

	snprintf(portarg, sizeof portarg, "%d", port > 0 ? port : -1);
	argv[argc++] = s->binary_;
	argv[argc++] = "-a";
	argv[argc++] = "127.0.0.1";
	argv[argc++] = "-p";
	argv[argc++] = portarg;
	argv[argc++] = "--ports_file_dir";
	argv[argc++] = s->dir;
	if (cluster) {
		snprintf(clusterarg, sizeof clusterarg, "nats://127.0.0.1:%d",
			 cport > 0 ? cport : -1);
		argv[argc++] = "--cluster";
		argv[argc++] = clusterarg;
		argv[argc++] = "--cluster_name";
		argv[argc++] = s->cluster_name_;
		if (s->routes_[0] != '\0') {
			argv[argc++] = "--routes";
			argv[argc++] = s->routes_;
		}
	}
	for (int i = 0; i < s->nextra_; i++)
		argv[argc++] = s->extra_[i];
	argv[argc] = NULL;

	int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
			 0600);
	if (logfd < 0) {
		int rc = -errno;
		report("open %s: %s", s->log_path, strerror(errno));
		return rc;
	}
	int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (nullfd < 0) {
		int rc = -errno;
		report("open /dev/null: %s", strerror(errno));
		close(logfd);
		return rc;
	}
	struct rlimit rl;
	int maxfd = 1024;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		maxfd = rl.rlim_cur < CLOSE_FD_CAP ? (int)rl.rlim_cur :
						     CLOSE_FD_CAP;
	pid_t parent = getpid();
	fflush(NULL); /* no buffered output duplicated into the child */
	pid_t pid = fork();
	if (pid < 0) {
		int rc = -errno;
		report("fork: %s", strerror(errno));
		close(logfd);
		close(nullfd);
		return rc;
	}
	if (pid == 0)
		child_exec(s->binary_, (char *const *)argv, logfd, nullfd,
			   parent, maxfd);
	close(logfd);
	close(nullfd);
	s->pid = pid;

	int64_t deadline = now_ms() + s->start_timeout_ms_;
	long rounds = s->start_timeout_ms_ / POLL_MS + 2;
	int rc = -ETIMEDOUT;
	for (long i = 0; i < rounds; i++) {
		int st = 0;
		pid_t r = waitpid(pid, &st, WNOHANG);
		if (r == pid || (r < 0 && errno == ECHILD)) {
			s->pid = 0;
			s->last_status = r == pid ? st : -1;
			if (r == pid && WIFEXITED(st))
				report("%s exited during its start with "
				       "status %d",
				       s->binary_, WEXITSTATUS(st));
			else if (r == pid && WIFSIGNALED(st))
				report("%s killed by signal %d during its "
				       "start",
				       s->binary_, WTERMSIG(st));
			else
				report("%s vanished during its start",
				       s->binary_);
			nats_server_log_tail(s, stderr, 20);
			return -ECHILD;
		}
		if (read_ports(s, pid, cluster) == 0) {
			rc = 0;
			break;
		}
		if (now_ms() > deadline)
			break;
		sleep_ms(POLL_MS);
	}
	if (rc != 0) {
		report("no complete ports file in %s within %d ms", s->dir,
		       s->start_timeout_ms_);
	} else if ((port > 0 && s->port != port) ||
		   (cluster && cport > 0 && s->cluster_port != cport)) {
		report("server listens on %d/%d, not the requested %d/%d",
		       s->port, s->cluster_port, port, cport);
		rc = -EINVAL;
	} else if (!port_accepts(s, deadline)) {
		report("%s accepts no TCP connection within %d ms", s->url,
		       s->start_timeout_ms_);
		rc = -ETIMEDOUT;
	}
	if (rc != 0) {
		nats_server_log_tail(s, stderr, 20);
		(void)end_process(s, SIGKILL);
	}
	return rc;
}

/* --------------------------------------------------------- directory -- */

/* Removes @path and what it holds, @depth levels deep at most. */
static int remove_tree(const char *path, int depth)
{
	struct stat st;
	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISDIR(st.st_mode))
		return unlink(path) == 0 ? 0 : -errno;
	if (depth > 0) {
		DIR *d = opendir(path);
		if (d == NULL)
			return -errno;
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") == 0 ||
			    strcmp(e->d_name, "..") == 0)
				continue;
			char sub[PATH_MAX];
			int w = snprintf(sub, sizeof sub, "%s/%s", path,
					 e->d_name);
			if (w > 0 && (size_t)w < sizeof sub)
				(void)remove_tree(sub, depth - 1);
		}
		closedir(d);
	}
	return rmdir(path) == 0 ? 0 : -errno;
}

static void drop_dir(struct nats_server *s)
{
	const char *keep = getenv("TROUPE_NATS_KEEP");
	if (keep != NULL && strcmp(keep, "1") == 0) {
		fprintf(stderr, "nats_server: kept %s (TROUPE_NATS_KEEP=1)\n",
			s->dir);
		return;
	}
	int rc = remove_tree(s->dir, 8);
	if (rc != 0)
		report("removing %s: %s", s->dir, strerror(-rc));
}

/* True if a process @pid exists (as far as kill(pid, 0) can tell). */
static bool pid_alive(long pid)
{
	return pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH);
}

/*
 * Removes the directories of harness users that died without stopping
 * their servers (a test killed by a sanitizer's abort or a ctest timeout
 * runs no cleanup; PDEATHSIG took the server, nothing took the
 * directory). A directory is stale when the process named in it
 * ("troupe-nats-<pid>-XXXXXX") is gone and no server it holds a ports
 * file of still runs; anything else (another user's live run, an old
 * name without a pid) is left alone. Bounded: at most SWEEP_MAX entries
 * of @tmp are looked at. TROUPE_NATS_KEEP=1 keeps everything.
 */
#define SWEEP_MAX 4096
static void sweep_stale(const char *tmp)
{
	static const char prefix[] = "troupe-nats-";
	const char *keep = getenv("TROUPE_NATS_KEEP");
	if (keep != NULL && strcmp(keep, "1") == 0)
		return;
	DIR *d = opendir(tmp);
	if (d == NULL)
		return;
	struct dirent *e;
	for (int n = 0; n < SWEEP_MAX && (e = readdir(d)) != NULL; n++) {
		if (strncmp(e->d_name, prefix, sizeof prefix - 1) != 0)
			continue;
		const char *p = e->d_name + sizeof prefix - 1;
		char *end = NULL;
		long owner = strtol(p, &end, 10);
		if (end == p || *end != '-' || owner <= 0 ||
		    owner == (long)getpid() || pid_alive(owner))
			continue;
		char path[PATH_MAX];
		int w = snprintf(path, sizeof path, "%s/%s", tmp, e->d_name);
		if (w <= 0 || (size_t)w >= sizeof path)
			continue;
		/* A server still running there (no PDEATHSIG on this
		 * platform)? Its ports file names it. */
		bool live = false;
		DIR *sd = opendir(path);
		if (sd == NULL)
			continue;
		struct dirent *f;
		for (int k = 0; k < 64 && (f = readdir(sd)) != NULL; k++) {
			long spid = 0;
			if (sscanf(f->d_name, "nats-server_%ld.ports", &spid) ==
				    1 &&
			    pid_alive(spid))
				live = true;
		}
		closedir(sd);
		if (!live)
			(void)remove_tree(path, 8);
	}
	closedir(d);
}

/* -------------------------------------------------------------- API -- */

int nats_server_start(struct nats_server *s, const struct nats_server_opts *o)
{
	static const struct nats_server_opts defaults = NATS_SERVER_OPTS_INIT;
	if (s == NULL)
		return -EINVAL;
	if (o == NULL)
		o = &defaults;
	memset(s, 0, sizeof *s);
	if (o->port < 0 || o->port > 65535 || o->cluster_port < 0 ||
	    o->cluster_port > 65535 || o->start_timeout_ms < 0 ||
	    (o->routes != NULL && o->cluster_name == NULL) ||
	    (o->cluster_name != NULL && o->cluster_name[0] == '\0')) {
		report("start: invalid options");
		return -EINVAL;
	}
	s->start_timeout_ms_ = o->start_timeout_ms > 0 ?
				       o->start_timeout_ms :
				       NATS_SERVER_START_TIMEOUT_MS;
	const char *want = o->binary;
	if (want == NULL)
		want = getenv("TROUPE_NATS_SERVER");
	if (want == NULL || *want == '\0')
		want = "nats-server";
	int rc = resolve_binary(want, s->binary_, sizeof s->binary_);
	if (rc != 0)
		return rc;
	if (o->cluster_name != NULL &&
	    !copy_str(s->cluster_name_, sizeof s->cluster_name_,
		      o->cluster_name)) {
		report("cluster name too long");
		return -E2BIG;
	}
	if (o->routes != NULL &&
	    !copy_str(s->routes_, sizeof s->routes_, o->routes)) {
		report("routes too long");
		return -E2BIG;
	}
	for (int i = 0; o->extra_args != NULL && o->extra_args[i] != NULL;
	     i++) {
		if (i >= NATS_SERVER_EXTRA_MAX ||
		    !copy_str(s->extra_[i], sizeof s->extra_[i],
			      o->extra_args[i])) {
			report("more than %d extra arguments, or one longer "
			       "than %d bytes",
			       NATS_SERVER_EXTRA_MAX, NATS_SERVER_ARG_MAX - 1);
			return -E2BIG;
		}
		s->nextra_ = i + 1;
	}

	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	sweep_stale(tmp);
	int w = snprintf(s->dir, sizeof s->dir, "%s/troupe-nats-%ld-XXXXXX",
			 tmp, (long)getpid());
	if (w <= 0 || (size_t)w >= sizeof s->dir) {
		report("TMPDIR too long");
		return -E2BIG;
	}
	if (mkdtemp(s->dir) == NULL) {
		rc = -errno;
		report("mkdtemp %s: %s", s->dir, strerror(errno));
		return rc;
	}
	snprintf(s->log_path, sizeof s->log_path, "%s/server.log", s->dir);
	s->started_ = 1;

	rc = launch(s, o->port, o->cluster_port);
	if (rc != 0) {
		int status = s->last_status;
		drop_dir(s);
		memset(s, 0, sizeof *s);
		s->last_status = status;
	}
	return rc;
}

int nats_server_kill(struct nats_server *s)
{
	if (s == NULL || s->pid <= 0)
		return -EINVAL;
	return end_process(s, SIGKILL);
}

int nats_server_halt(struct nats_server *s)
{
	if (s == NULL || s->pid <= 0)
		return -EINVAL;
	return end_process(s, SIGTERM);
}

int nats_server_restart(struct nats_server *s)
{
	if (s == NULL || !s->started_)
		return -EINVAL;
	if (s->pid > 0) {
		int rc = nats_server_halt(s);
		if (rc != 0)
			return rc;
	}
	int port = s->port, cport = s->cluster_port;
	int rc = -ECHILD;
	for (int i = 0; i < RESTART_TRIES && rc == -ECHILD; i++) {
		if (i > 0) {
			report("restart on port %d: try %d of %d", port, i + 1,
			       RESTART_TRIES);
			sleep_ms(200);
		}
		rc = launch(s, port, cport);
	}
	return rc;
}

int nats_server_stop(struct nats_server *s)
{
	int rc = 0;
	if (s == NULL || !s->started_)
		return 0;
	if (s->pid > 0)
		rc = end_process(s, SIGTERM);
	int status = s->last_status;
	drop_dir(s);
	memset(s, 0, sizeof *s);
	s->last_status = status;
	return rc;
}

void nats_server_log_tail(const struct nats_server *s, FILE *out, int lines)
{
	enum {
		TAIL_MAX = 64 * 1024
	};
	if (out == NULL)
		out = stderr;
	if (lines <= 0)
		lines = 20;
	if (s == NULL || s->log_path[0] == '\0')
		return;
	int fd = open(s->log_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(out, "nats_server: no log at %s: %s\n", s->log_path,
			strerror(errno));
		return;
	}
	struct stat st;
	off_t from = 0;
	if (fstat(fd, &st) == 0 && st.st_size > TAIL_MAX)
		from = st.st_size - TAIL_MAX;
	char *buf = malloc(TAIL_MAX + 1);
	size_t n = 0;
	if (buf != NULL && lseek(fd, from, SEEK_SET) == from) {
		while (n < TAIL_MAX) {
			ssize_t r = read(fd, buf + n, TAIL_MAX - n);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
				break;
			n += (size_t)r;
		}
	}
	close(fd);
	if (buf == NULL)
		return;
	buf[n] = '\0';
	/* Back from the end over @lines line breaks (one more if the file
	 * ends with one). */
	size_t start = n;
	int seen = 0;
	if (start > 0 && buf[start - 1] == '\n')
		start--;
	while (start > 0) {
		if (buf[start - 1] == '\n' && ++seen == lines)
			break;
		start--;
	}
	fprintf(out, "---- %s (server %s) last %d lines ----\n%s%s",
		s->log_path, s->url[0] != '\0' ? s->url : "not started", lines,
		buf + start, n > 0 && buf[n - 1] != '\n' ? "\n" : "");
	fprintf(out, "---- end of %s ----\n", s->log_path);
	fflush(out);
	free(buf);
}

/* Occurrences of @needle in the file at @path (-1 if unreadable). */
static long count_in_file(const char *path, const char *needle)
{
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return -1;
	char line[1024];
	long count = 0;
	/* Bounded by the file's size: each fgets consumes input. */
	while (fgets(line, sizeof line, f) != NULL)
		if (strstr(line, needle) != NULL)
			count++;
	fclose(f);
	return count;
}

int nats_server_cluster_urls(const struct nats_server *s, int n, char *buf,
			     size_t len)
{
	size_t used = 0;
	if (buf == NULL || len == 0 || s == NULL || n < 0)
		return -EINVAL;
	buf[0] = '\0';
	for (int i = 0; i < n; i++) {
		int w = snprintf(buf + used, len - used, "%s%s",
				 i > 0 ? "," : "", s[i].url);
		if (w < 0 || (size_t)w >= len - used) {
			buf[0] = '\0';
			return -E2BIG;
		}
		used += (size_t)w;
	}
	return 0;
}

int nats_server_cluster_start(struct nats_server *s, int n,
			      const struct nats_server_opts *o)
{
	static const struct nats_server_opts defaults = NATS_SERVER_OPTS_INIT;
	if (s == NULL || n < 2 || n > NATS_SERVER_CLUSTER_MAX) {
		report("cluster_start: %d servers (2..%d)", n,
		       NATS_SERVER_CLUSTER_MAX);
		return -EINVAL;
	}
	if (o == NULL)
		o = &defaults;
	memset(s, 0, sizeof *s * (size_t)n);
	int rc = 0;
	for (int i = 0; i < n && rc == 0; i++) {
		struct nats_server_opts oi = *o;
		char routes[NATS_SERVER_CLUSTER_MAX * NATS_SERVER_URL_MAX];
		size_t used = 0;
		routes[0] = '\0';
		for (int k = 0; k < i; k++) {
			int w = snprintf(routes + used, sizeof routes - used,
					 "%s%s", k > 0 ? "," : "",
					 s[k].cluster_url);
			if (w > 0)
				used += (size_t)w;
		}
		oi.cluster_name = o->cluster_name != NULL ? o->cluster_name :
							    "troupe";
		oi.routes = i > 0 ? routes : NULL;
		oi.port = 0;
		oi.cluster_port = 0;
		rc = nats_server_start(&s[i], &oi);
	}
	if (rc != 0) {
		(void)nats_server_cluster_stop(s, n);
		return rc;
	}

	/*
	 * The mesh is up when each server has n-1 routes. nats-server 2.9
	 * logs "Route connection created" for every route and "Router
	 * connection closed" when one goes (duplicates are closed at once),
	 * so created - closed is its live route count.
	 */
	int timeout = s[0].start_timeout_ms_;
	int64_t deadline = now_ms() + timeout;
	long rounds = timeout / POLL_MS + 2;
	for (long r = 0; r < rounds; r++) {
		int ready = 0;
		for (int i = 0; i < n; i++) {
			long up = count_in_file(s[i].log_path,
						"Route connection created");
			long down = count_in_file(s[i].log_path,
						  "Router connection closed");
			if (up >= 0 && down >= 0 && up - down >= n - 1)
				ready++;
		}
		if (ready == n)
			return 0;
		if (now_ms() > deadline)
			break;
		sleep_ms(POLL_MS * 2);
	}
	report("cluster of %d: routes not all up within %d ms", n, timeout);
	for (int i = 0; i < n; i++)
		nats_server_log_tail(&s[i], stderr, 10);
	(void)nats_server_cluster_stop(s, n);
	return -ETIMEDOUT;
}

int nats_server_cluster_stop(struct nats_server *s, int n)
{
	int first = 0;
	if (s == NULL || n < 0)
		return -EINVAL;
	for (int i = n - 1; i >= 0; i--) {
		int rc = nats_server_stop(&s[i]);
		if (rc != 0 && first == 0)
			first = rc;
	}
	return first;
}
