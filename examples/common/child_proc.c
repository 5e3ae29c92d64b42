/*
 * examples/common/child_proc.c - see child_proc.h.
 */
#define _GNU_SOURCE /* prctl, syscall, kill, fork, execv under -std=gnu11 */

#include "child_proc.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

const char *ex_child_why(const struct ex_child *c, char *buf, size_t len)
{
	int st = c != NULL ? c->status : 0;

	if (c == NULL || c->pid > 0)
		snprintf(buf, len, "is running");
	else if (WIFEXITED(st))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(st));
	else
		snprintf(buf, len, "ended (wait status %d)", st);
	return buf;
}

bool ex_child_running(struct ex_child *c)
{
	int st;
	pid_t r;

	if (c == NULL)
		return true;
	if (c->pid <= 0)
		return false;
	r = waitpid(c->pid, &st, WNOHANG);
	if (r == 0)
		return true;
	c->pid = 0;
	c->status = r > 0 ? st : -1;
	return false;
}

/* Polls for @c's exit for up to @ms; true once it exited (reaped). */
static bool exited_within(struct ex_child *c, long ms)
{
	for (long waited = 0; ex_child_running(c); waited += 10) {
		if (waited >= ms)
			return false;
		sleep_ms(10);
	}
	return true;
}

void ex_child_kill(struct ex_child *c, int sig)
{
	if (c == NULL || c->pid <= 0)
		return;
	(void)kill(c->pid, sig);
	if (exited_within(c, 2000))
		return;
	(void)kill(c->pid, SIGKILL);
	if (!exited_within(c, 5000))
		fprintf(stderr, "%s: the %s process %d did not die\n",
			c->program, c->role, (int)c->pid);
}

int ex_child_wait(struct ex_child *c, int64_t timeout_ns)
{
	char why[64];

	if (c == NULL)
		return 0;
	if (!exited_within(c, (long)(timeout_ns / 1000000))) {
		fprintf(stderr,
			"%s: the %s process did not exit within %lld s\n",
			c->program, c->role,
			(long long)(timeout_ns / 1000000000));
		ex_child_kill(c, SIGKILL);
		return -1;
	}
	if (!WIFEXITED(c->status) || WEXITSTATUS(c->status) != 0) {
		fprintf(stderr, "%s: the %s process %s\n", c->program, c->role,
			ex_child_why(c, why, sizeof why));
		return -1;
	}
	return 0;
}

/* Closes every descriptor above stderr (the NATS connection's socket, the
 * runtime's): between fork and exec, so async-signal-safe calls only. */
static void close_inherited(void)
{
#if defined(SYS_close_range)
	if (syscall(SYS_close_range, 3u, ~0u, 0u) == 0)
		return;
#endif
	for (int fd = 3; fd < 1024; fd++)
		(void)close(fd);
}

int ex_child_start(struct ex_child *c)
{
	if (c == NULL)
		return 0;

	char fail_msg[128];
	pid_t parent = getpid();
	pid_t pid;
	char *argv[] = { (char *)c->self,    "--role",
			 (char *)c->role,    "--nats",
			 (char *)c->url,     "--cluster",
			 (char *)c->cluster, NULL };
	/* Formatted here: the child may only write it. */
	snprintf(fail_msg, sizeof fail_msg, "%s: cannot exec the %s process\n",
		 c->program, c->role);
	size_t fail_len = strlen(fail_msg);

	fflush(NULL); /* no buffered output duplicated into the child */
	pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", c->program, strerror(errno));
		return -1;
	}
	if (pid == 0) {
		/* If we die, the child goes too (checked after the call: we
		 * may have died before it). */
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close_inherited();
		execv("/proc/self/exe", argv);
		execv(c->self, argv);
		ssize_t ignored = write(STDERR_FILENO, fail_msg, fail_len);
		(void)ignored;
		_exit(127);
	}
	c->pid = pid;
	c->status = 0;
	return 0;
}

int ex_server_start(const char *program, struct nats_server *srv,
		    const char **url)
{
	memset(srv, 0, sizeof *srv);
	if (*url != NULL)
		return 0;
	if (nats_server_start(srv, NULL) != 0) {
		fprintf(stderr,
			"%s: could not start a nats-server (set "
			"TROUPE_NATS_SERVER, or use --nats URL)\n",
			program);
		return -1;
	}
	*url = srv->url;
	return 0;
}
