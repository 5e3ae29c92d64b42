/*
 * bench/remote_util.c - see remote_util.h.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* prctl, pipe2, mkdtemp */
#endif

#include "remote_util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Waits up to @timeout_ms for @pid to exit; then SIGKILLs it and reaps it.
 * Returns its exit status, or -1 if it died of a signal (ours included).
 */
static int reap(pid_t pid, int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;
	int status = 0;

	for (;;) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (now_ms() >= end) {
			kill(pid, SIGKILL);
			while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
				;
			return -1;
		}
		sleep_ms(2);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Removes @dir and the files in it (no subdirectories are made). */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

/* Reads the "nats" URL out of the ports file @path into @url. */
static bool read_ports_file(const char *path, char *url, size_t size)
{
	char text[512], *p, *q;
	size_t len;
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return false;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	/* {"nats":["nats://127.0.0.1:PORT"], ...}: the file is written at
	 * once, but read it only when its URL is complete. */
	p = strstr(text, "\"nats\":[\"");
	if (p == NULL)
		return false;
	p += strlen("\"nats\":[\"");
	q = strchr(p, '"');
	if (q == NULL || (size_t)(q - p) >= size || q == p)
		return false;
	memcpy(url, p, (size_t)(q - p));
	url[q - p] = '\0';
	return true;
}

int bench_nats_server_start(struct bench_nats_server *s)
{
	const char *bin = getenv("NATS_SERVER");
	char ports[PATH_MAX], log[PATH_MAX];
	int64_t end;
	pid_t pid;

	memset(s, 0, sizeof(*s));
	if (bin == NULL || bin[0] == '\0')
		bin = "nats-server";
	snprintf(s->dir, sizeof(s->dir), "/tmp/troupe-nats.XXXXXX");
	if (mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "nats-server: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(log, sizeof(log), "%s/log", s->dir);
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "nats-server: fork: %s\n", strerror(errno));
		remove_dir(s->dir);
		return -1;
	}
	if (pid == 0) {
		int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int null = open("/dev/null", O_RDONLY);

		/* The server dies with us, whatever kills us. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		if (null >= 0)
			dup2(null, STDIN_FILENO);
		execlp(bin, bin, "-a", "127.0.0.1", "-p", "-1",
		       "--ports_file_dir", s->dir, (char *)NULL);
		fprintf(stderr, "nats-server: exec %s: %s\n", bin,
			strerror(errno));
		_exit(127);
	}
	s->pid = pid;
	snprintf(ports, sizeof(ports), "%s/nats-server_%ld.ports", s->dir,
		 (long)pid);
	end = now_ms() + 5000;
	while (!read_ports_file(ports, s->url, sizeof(s->url))) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			fprintf(stderr,
				"nats-server: exited before listening (%s %d); "
				"its log: %s\n",
				WIFEXITED(status) ? "status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) :
						    WTERMSIG(status),
				log);
			s->pid = 0;
			return -1;
		}
		if (now_ms() >= end) {
			fprintf(stderr, "nats-server: no %s after 5 s\n",
				ports);
			bench_nats_server_stop(s);
			return -1;
		}
		sleep_ms(5);
	}
	return 0;
}

void bench_nats_server_stop(struct bench_nats_server *s)
{
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		reap(s->pid, 2000);
		s->pid = 0;
	}
	if (s->dir[0] != '\0') {
		remove_dir(s->dir);
		s->dir[0] = '\0';
	}
}

/*
 * Reads one line from the far into @line (without the newline), waiting
 * up to @timeout_ms. Returns true if a whole line came; false on EOF,
 * error or timeout (@line then holds what came, possibly "").
 */
static bool read_line(struct bench_far *f, char *line, size_t size,
		      int timeout_ms)
{
	int64_t end = now_ms() + timeout_ms;

	for (;;) {
		char *nl = memchr(f->buf, '\n', f->len);
		struct pollfd pfd = { f->from_far, POLLIN, 0 };
		int64_t left;
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - f->buf);

			snprintf(line, size, "%.*s", (int)len, f->buf);
			memmove(f->buf, nl + 1, f->len - len - 1);
			f->len -= len + 1;
			return true;
		}
		if (f->len == sizeof(f->buf) - 1)
			f->len = 0; /* a line too long for us: drop it */
		left = end - now_ms();
		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd.revents == 0)
			continue;
		n = read(f->from_far, f->buf + f->len,
			 sizeof(f->buf) - 1 - f->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		f->len += (size_t)n;
	}
	snprintf(line, size, "%.*s", (int)f->len, f->buf);
	f->len = 0;
	return false;
}

int bench_far_start(struct bench_far *f, char *const argv[], int timeout_ms)
{
	int in[2], out[2];
	char line[256];
	pid_t pid;

	memset(f, 0, sizeof(*f));
	f->to_far = f->from_far = -1;
	if (pipe2(in, O_CLOEXEC) != 0)
		goto fail_errno;
	if (pipe2(out, O_CLOEXEC) != 0) {
		close(in[0]);
		close(in[1]);
		goto fail_errno;
	}
	fflush(NULL); /* nothing buffered is written twice */
	pid = fork();
	if (pid < 0) {
		close(in[0]);
		close(in[1]);
		close(out[0]);
		close(out[1]);
		goto fail_errno;
	}
	if (pid == 0) {
		/* dup2 clears O_CLOEXEC on the copies. */
		if (dup2(in[0], STDIN_FILENO) < 0 ||
		    dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		execv("/proc/self/exe", argv);
		fprintf(stderr, "far: exec /proc/self/exe: %s\n",
			strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	f->pid = pid;
	f->to_far = in[1];
	f->from_far = out[0];
	if (read_line(f, line, sizeof(line), timeout_ms) &&
	    strcmp(line, "ready") == 0)
		return 0;
	fprintf(stderr,
		"far: it exited, or said no \"ready\" within %d ms (its "
		"line: \"%s\")\n",
		timeout_ms, line);
	kill(f->pid, SIGKILL);
	reap(f->pid, 1000);
	close(f->to_far);
	close(f->from_far);
	f->pid = 0;
	return -1;

fail_errno:
	fprintf(stderr, "far: starting it: %s\n", strerror(errno));
	return -1;
}

int bench_far_stop(struct bench_far *f, char *line, size_t size, int timeout_ms)
{
	int rc;

	if (size > 0)
		line[0] = '\0';
	if (f->pid <= 0)
		return -1;
	if (f->to_far >= 0) {
		close(f->to_far);
		f->to_far = -1;
	}
	if (size > 0)
		read_line(f, line, size, timeout_ms);
	rc = reap(f->pid, timeout_ms);
	close(f->from_far);
	f->from_far = -1;
	f->pid = 0;
	return rc;
}

void bench_far_ready(void)
{
	fputs("ready\n", stdout);
	fflush(stdout);
}

void bench_far_wait_parent(void)
{
	char buf[64];

	for (;;) {
		ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EINTR))
			return;
	}
}

bool bench_line_u64(const char *line, const char *key, uint64_t *out)
{
	size_t klen = strlen(key);
	const char *p = line;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == line || p[-1] == ' ') && p[klen] == '=') {
			const char *v = p + klen + 1;
			char *end;
			unsigned long long n;

			if (*v < '0' || *v > '9')
				return false;
			errno = 0;
			n = strtoull(v, &end, 10);
			if (errno != 0 || (*end != '\0' && *end != ' '))
				return false;
			*out = (uint64_t)n;
			return true;
		}
		p += klen;
	}
	return false;
}

void bench_unique_token(char *buf, size_t size, const char *prefix)
{
	static unsigned run;

	snprintf(buf, size, "%s%ldx%u", prefix, (long)getpid(), run++);
}
