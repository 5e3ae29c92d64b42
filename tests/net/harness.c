/*
 * tests/net/harness.c - self-test of the nats-server harness
 * (tests/common/nats_server.h), with the raw NATS client only: no troupe.
 *
 * Checks: the ports-file parser (valid files, every truncation of one,
 * bad URLs and ports); one server: start, a message through it
 * (natsConnection_ConnectTo, publish, receive), stop, its PID gone and its
 * directory removed; kill + restart on the same port with a client that
 * reconnects on its own; start failures (missing binary, a binary that
 * exits at once, a flag the server refuses) return an error and leave no
 * process; a 3-server cluster where a message published on server 2
 * reaches a subscriber on server 3; directories of dead harness users are
 * swept, others' are not; no child left unreaped at the end.
 *
 * main() returns 0, or 1 after one "FAIL harness: ..." line.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#include "../common/nats_server.h"

/* Every server this test started, for the cleanup of a failure. */
static struct nats_server *live[8];
static int nlive;

static void track(struct nats_server *s)
{
	if (nlive < (int)(sizeof live / sizeof live[0]))
		live[nlive++] = s;
}

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			fail_at(__LINE__, #cond);                              \
	} while (0)

static void fail_at(int line, const char *what)
{
	fprintf(stderr, "FAIL harness: line %d: %s\n", line, what);
	for (int i = 0; i < nlive; i++) {
		if (live[i]->pid > 0)
			nats_server_log_tail(live[i], stderr, 20);
		nats_server_stop(live[i]);
	}
	exit(1);
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool dir_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static bool pid_gone(pid_t pid)
{
	return kill(pid, 0) != 0 && errno == ESRCH;
}

/* ------------------------------------------------------------ parser -- */

static int parse(const char *json, bool cluster, char *url, int *port,
		 char *curl, int *cport)
{
	return nats_server_parse_ports(json, strlen(json), url, port,
				       cluster ? curl : NULL, cport);
}

static void test_parser(void)
{
	char url[NATS_SERVER_URL_MAX], curl[NATS_SERVER_URL_MAX];
	int port = 0, cport = 0;
	const char *full = "{\"nats\":[\"nats://127.0.0.1:36437\"],"
			   "\"cluster\":[\"nats://127.0.0.1:38255\"]}\n";

	CHECK(parse(full, true, url, &port, curl, &cport) == 0);
	CHECK(strcmp(url, "nats://127.0.0.1:36437") == 0 && port == 36437);
	CHECK(strcmp(curl, "nats://127.0.0.1:38255") == 0 && cport == 38255);
	CHECK(parse(full, false, url, &port, NULL, NULL) == 0);

	/* Every proper prefix of a valid file is refused: the server
	 * writes the file non-atomically and the harness may read it
	 * half-written. */
	size_t len = strlen(full) - 1; /* without the newline */
	for (size_t n = 0; n < len; n++)
		CHECK(nats_server_parse_ports(full, n, url, &port, curl,
					      &cport) != 0);

	/* Other keys, whitespace, several URLs, escapes, nesting. */
	CHECK(parse(" { \"monitoring\" : [\"http://127.0.0.1:8222\"] ,\n"
		    "\t\"nats\" : [ \"nats:\\/\\/127.0.0.1:4222\" , "
		    "\"nats://10.0.0.1:4222\" ],\"x\":{\"a\":[1,true,null,"
		    "{\"b\":\"\\u00e9\"}]},\"n\":-1.5e3 } ",
		    false, url, &port, NULL, NULL) == 0);
	CHECK(strcmp(url, "nats://127.0.0.1:4222") == 0 && port == 4222);
	CHECK(parse("{\"a_key_longer_than_the_parser_keeps_at_all\":1,"
		    "\"nats\":[\"nats://h:1\"]}",
		    false, url, &port, NULL, NULL) == 0);
	CHECK(port == 1);

	/* Refused. */
	const char *bad[] = {
		"",
		"{}",
		"[]",
		"{\"nats\":[]}",
		"{\"nats\":\"nats://127.0.0.1:4222\"}",
		"{\"nats\":[\"http://127.0.0.1:4222\"]}",
		"{\"nats\":[\"nats://127.0.0.1\"]}",
		"{\"nats\":[\"nats://127.0.0.1:\"]}",
		"{\"nats\":[\"nats://:4222\"]}",
		"{\"nats\":[\"nats://127.0.0.1:0\"]}",
		"{\"nats\":[\"nats://127.0.0.1:65536\"]}",
		"{\"nats\":[\"nats://127.0.0.1:123456\"]}",
		"{\"nats\":[\"nats://127.0.0.1:42a\"]}",
		"{\"nats\":[\"nats://127.0.0.1:4222\"]}}",
		"{\"nats\":[\"nats://127.0.0.1:4222\"]} x",
		"{\"nats\":[\"nats://127.0.0.1:4222\"],}",
		"{\"nats\":[\"nats://127.0.0.1:4222\"] \"cluster\":[]}",
		"{\"nats\":[\"nats://a-host-name-so-long-that-the-url-does-"
		"not-fit-in-sixty-four-bytes.example:4222\"]}",
		"{\"nats\":[\"nats://127.0.0.1:4222\001\"]}",
		"{\"x\":[[[[[[[[[[[1]]]]]]]]]]],\"nats\":[\"nats://h:1\"]}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (parse(bad[i], false, url, &port, NULL, NULL) == 0) {
			fprintf(stderr, "accepted: %s\n", bad[i]);
			CHECK(!"a bad ports file was accepted");
		}
	}
	/* The cluster key is required when asked for. */
	CHECK(parse("{\"nats\":[\"nats://127.0.0.1:4222\"]}", true, url, &port,
		    curl, &cport) != 0);
}

/* ------------------------------------------------------------ client -- */

/* Connects to @url; NULL on failure (reported). */
static natsConnection *connect_to(const char *url)
{
	natsConnection *nc = NULL;
	natsStatus st = natsConnection_ConnectTo(&nc, url);
	if (st != NATS_OK) {
		fprintf(stderr, "connect %s: %s\n", url,
			natsStatus_GetText(st));
		return NULL;
	}
	return nc;
}

/* Publishes @text on @subj through @pub until @sub (on the same or another
 * server) receives it, at most @ms: true if it did. */
static bool crosses(natsConnection *pub, natsSubscription *sub,
		    const char *subj, const char *text, int ms)
{
	long long deadline = now_ms() + ms;
	for (int round = 0; round < ms / 50 + 1; round++) {
		if (natsConnection_PublishString(pub, subj, text) != NATS_OK)
			return false;
		if (natsConnection_FlushTimeout(pub, 1000) != NATS_OK)
			return false;
		natsMsg *m = NULL;
		/* A bounded inner drain: earlier rounds' copies may arrive
		 * late; each one is checked. */
		for (int k = 0; k < 64; k++) {
			if (natsSubscription_NextMsg(&m, sub, 50) != NATS_OK)
				break;
			bool same = natsMsg_GetDataLength(m) ==
					    (int)strlen(text) &&
				    memcmp(natsMsg_GetData(m), text,
					   strlen(text)) == 0;
			natsMsg_Destroy(m);
			if (same)
				return true;
		}
		if (now_ms() > deadline)
			break;
	}
	return false;
}

static void test_one_server(void)
{
	struct nats_server s;
	track(&s);
	CHECK(nats_server_start(&s, NULL) == 0);
	CHECK(s.pid > 0 && s.port > 0 && s.cluster_port == 0);
	char want[NATS_SERVER_URL_MAX];
	snprintf(want, sizeof want, "nats://127.0.0.1:%d", s.port);
	CHECK(strcmp(s.url, want) == 0);
	CHECK(s.cluster_url[0] == '\0');
	CHECK(dir_exists(s.dir));

	natsConnection *nc = connect_to(s.url);
	CHECK(nc != NULL);
	natsSubscription *sub = NULL;
	CHECK(natsConnection_SubscribeSync(&sub, nc, "harness.one") == NATS_OK);
	CHECK(natsConnection_Flush(nc) == NATS_OK);
	CHECK(natsConnection_PublishString(nc, "harness.one", "hello") ==
	      NATS_OK);
	natsMsg *m = NULL;
	CHECK(natsSubscription_NextMsg(&m, sub, 5000) == NATS_OK);
	CHECK(natsMsg_GetDataLength(m) == 5 &&
	      memcmp(natsMsg_GetData(m), "hello", 5) == 0);
	natsMsg_Destroy(m);
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);

	pid_t pid = s.pid;
	int port = s.port;
	char dir[sizeof s.dir];
	memcpy(dir, s.dir, sizeof dir);
	long long t0 = now_ms();
	CHECK(nats_server_stop(&s) == 0);
	printf("harness: one server on port %d, stopped in %lld ms\n", port,
	       now_ms() - t0);
	CHECK(s.pid == 0);
	CHECK(pid_gone(pid));
	CHECK(!dir_exists(dir));
	/* A graceful stop: the server exited by itself on SIGTERM. */
	CHECK(WIFEXITED(s.last_status) || WIFSIGNALED(s.last_status));
	CHECK(nats_server_stop(&s) == 0); /* twice: harmless */
	nlive--;
}

static void test_kill_restart(void)
{
	struct nats_server s;
	track(&s);
	CHECK(nats_server_start(&s, NULL) == 0);
	int port = s.port;
	pid_t first = s.pid;

	/* A client that reconnects by itself (nats.c's default: 60 tries,
	 * 2 s apart; shortened here) finds the restarted server. */
	natsOptions *opts = NULL;
	CHECK(natsOptions_Create(&opts) == NATS_OK);
	CHECK(natsOptions_SetURL(opts, s.url) == NATS_OK);
	CHECK(natsOptions_SetReconnectWait(opts, 50) == NATS_OK);
	CHECK(natsOptions_SetMaxReconnect(opts, 200) == NATS_OK);
	natsConnection *nc = NULL;
	CHECK(natsConnection_Connect(&nc, opts) == NATS_OK);
	natsSubscription *sub = NULL;
	CHECK(natsConnection_SubscribeSync(&sub, nc, "harness.restart") ==
	      NATS_OK);
	CHECK(natsConnection_Flush(nc) == NATS_OK);

	CHECK(nats_server_kill(&s) == 0);
	CHECK(s.pid == 0);
	CHECK(pid_gone(first));
	CHECK(WIFSIGNALED(s.last_status) && WTERMSIG(s.last_status) == SIGKILL);
	CHECK(dir_exists(s.dir)); /* kept for the restart */
	CHECK(nats_server_kill(&s) == -EINVAL);

	CHECK(nats_server_restart(&s) == 0);
	CHECK(s.pid > 0 && s.pid != first && s.port == port);

	/* The subscription is replayed after the reconnect: the message
	 * gets through within a bounded number of tries. */
	CHECK(crosses(nc, sub, "harness.restart", "again", 10000));
	natsSubscription_Destroy(sub);
	natsConnection_Destroy(nc);
	natsOptions_Destroy(opts);

	/* Restart of a running server: halted, then started again. */
	pid_t second = s.pid;
	CHECK(nats_server_restart(&s) == 0);
	CHECK(pid_gone(second) && s.pid > 0 && s.port == port);

	pid_t third = s.pid;
	CHECK(nats_server_stop(&s) == 0);
	CHECK(pid_gone(third));
	nlive--;
}

static void test_start_failures(void)
{
	struct nats_server s;
	struct nats_server_opts o = NATS_SERVER_OPTS_INIT;

	o.binary = "/nonexistent/nats-server";
	CHECK(nats_server_start(&s, &o) < 0);
	CHECK(s.pid == 0);

	o.binary = "/bin/false";
	long long t0 = now_ms();
	CHECK(nats_server_start(&s, &o) == -ECHILD);
	CHECK(s.pid == 0 && now_ms() - t0 < 5000);

	/* The real server, refusing a flag: exits at once. */
	const char *extra[] = { "--no-such-flag-at-all", NULL };
	o.binary = NULL;
	o.extra_args = extra;
	CHECK(nats_server_start(&s, &o) == -ECHILD);
	CHECK(s.pid == 0);

	/* Options refused before anything runs. */
	struct nats_server_opts bad = NATS_SERVER_OPTS_INIT;
	bad.routes = "nats://127.0.0.1:1"; /* routes without a cluster */
	CHECK(nats_server_start(&s, &bad) == -EINVAL);
	bad = (struct nats_server_opts)NATS_SERVER_OPTS_INIT;
	bad.port = 70000;
	CHECK(nats_server_start(&s, &bad) == -EINVAL);
	const char *many[NATS_SERVER_EXTRA_MAX + 2];
	for (int i = 0; i < NATS_SERVER_EXTRA_MAX + 1; i++)
		many[i] = "-D";
	many[NATS_SERVER_EXTRA_MAX + 1] = NULL;
	bad = (struct nats_server_opts)NATS_SERVER_OPTS_INIT;
	bad.extra_args = many;
	CHECK(nats_server_start(&s, &bad) == -E2BIG);
	CHECK(nats_server_cluster_start(&s, 1, NULL) == -EINVAL);
}

/* Makes @dir (and a file in it, named @file); fails the test if it can't. */
static void make_dir(const char *dir, const char *file)
{
	char path[512];
	CHECK(mkdir(dir, 0700) == 0);
	snprintf(path, sizeof path, "%s/%s", dir, file);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	fputs("x\n", f);
	fclose(f);
}

static void remove_dir(const char *dir, const char *file)
{
	char path[512];
	snprintf(path, sizeof path, "%s/%s", dir, file);
	unlink(path);
	rmdir(dir);
}

/* Directories of dead harness users are swept by the next start; those
 * of live users, or holding a live server's ports file, are not. */
static void test_sweep(void)
{
	const char *tmp = getenv("TMPDIR");
	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	pid_t dead = fork();
	CHECK(dead >= 0);
	if (dead == 0)
		_exit(0);
	CHECK(waitpid(dead, NULL, 0) == dead);
	char stale[256], alive[256], serving[256], ports[64];
	snprintf(stale, sizeof stale, "%s/troupe-nats-%ld-sweep1", tmp,
		 (long)dead);
	snprintf(alive, sizeof alive, "%s/troupe-nats-%ld-sweep2", tmp,
		 (long)getppid());
	snprintf(serving, sizeof serving, "%s/troupe-nats-%ld-sweep3", tmp,
		 (long)dead);
	snprintf(ports, sizeof ports, "nats-server_%ld.ports", (long)getpid());
	make_dir(stale, "server.log");
	make_dir(alive, "server.log");
	make_dir(serving, ports);

	struct nats_server s;
	track(&s);
	CHECK(nats_server_start(&s, NULL) == 0);
	bool swept = !dir_exists(stale);
	bool kept = dir_exists(alive) && dir_exists(serving);
	remove_dir(stale, "server.log");
	remove_dir(alive, "server.log");
	remove_dir(serving, ports);
	CHECK(swept);
	CHECK(kept);
	/* Our own directory is named after us. */
	char mine[64];
	snprintf(mine, sizeof mine, "troupe-nats-%ld-", (long)getpid());
	CHECK(strstr(s.dir, mine) != NULL);
	CHECK(nats_server_stop(&s) == 0);
	nlive--;
}

static void test_cluster(void)
{
	struct nats_server c[3];
	for (int i = 0; i < 3; i++)
		track(&c[i]);
	long long t0 = now_ms();
	CHECK(nats_server_cluster_start(c, 3, NULL) == 0);
	printf("harness: 3-server cluster up in %lld ms\n", now_ms() - t0);
	for (int i = 0; i < 3; i++) {
		CHECK(c[i].pid > 0 && c[i].port > 0 && c[i].cluster_port > 0);
		CHECK(strncmp(c[i].cluster_url, "nats://", 7) == 0);
		for (int k = 0; k < i; k++)
			CHECK(c[i].port != c[k].port && c[i].pid != c[k].pid);
	}
	char urls[3 * NATS_SERVER_URL_MAX];
	CHECK(nats_server_cluster_urls(c, 3, urls, sizeof urls) == 0);
	CHECK(strstr(urls, c[2].url) != NULL && strchr(urls, ',') != NULL);
	char tiny[8];
	CHECK(nats_server_cluster_urls(c, 3, tiny, sizeof tiny) == -E2BIG);

	/* Published on server 2, received on server 3 (and on 1). */
	natsConnection *n2 = connect_to(c[1].url);
	natsConnection *n3 = connect_to(c[2].url);
	natsConnection *n1 = connect_to(c[0].url);
	CHECK(n1 != NULL && n2 != NULL && n3 != NULL);
	natsSubscription *s3 = NULL, *s1 = NULL;
	CHECK(natsConnection_SubscribeSync(&s3, n3, "harness.mesh") == NATS_OK);
	CHECK(natsConnection_SubscribeSync(&s1, n1, "harness.mesh1") ==
	      NATS_OK);
	CHECK(natsConnection_Flush(n3) == NATS_OK);
	CHECK(natsConnection_Flush(n1) == NATS_OK);
	t0 = now_ms();
	CHECK(crosses(n2, s3, "harness.mesh", "2 to 3", 5000));
	CHECK(crosses(n3, s1, "harness.mesh1", "3 to 1", 5000));
	printf("harness: messages crossed the cluster in %lld ms\n",
	       now_ms() - t0);
	natsSubscription_Destroy(s3);
	natsSubscription_Destroy(s1);
	natsConnection_Destroy(n1);
	natsConnection_Destroy(n2);
	natsConnection_Destroy(n3);

	pid_t pids[3];
	for (int i = 0; i < 3; i++)
		pids[i] = c[i].pid;
	CHECK(nats_server_cluster_stop(c, 3) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(pid_gone(pids[i]) && c[i].pid == 0);
	nlive -= 3;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_parser();
	test_one_server();
	test_kill_restart();
	test_start_failures();
	test_sweep();
	test_cluster();
	/* Every child was reaped by the harness: none is left. */
	errno = 0;
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
	/* nats.c's own threads and memory, so that LSan sees no leak. */
	nats_CloseAndWait(5000);
	printf("harness: ok\n");
	return 0;
}
