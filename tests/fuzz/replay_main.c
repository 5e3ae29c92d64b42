/*
 * tests/fuzz/replay_main.c - runs a libFuzzer target over files, without
 * libFuzzer: the committed corpus replays under the project's own compiler
 * and sanitizers (ctest fuzz.node_wire.replay, and so under the asan and
 * tsan presets), and a crash file can be rerun under gdb.
 *
 *   replay_node_wire <dir-or-file>...
 *
 * Each argument is a file or a directory whose regular files (not
 * recursive, dot files skipped) are each one input. Every input is read
 * into a heap block of exactly its size, so ASan flags a read one byte
 * past it as libFuzzer would. Prints how many inputs ran; exits 1 when an
 * argument cannot be opened or read, or when no input ran at all (an
 * empty or misplaced corpus must not pass silently). A finding aborts
 * inside the target.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Runs the target over the file at @path: 0, or -1 after a message. */
static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	struct stat st;
	if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		fclose(f);
		return -1;
	}
	size_t size = (size_t)st.st_size;
	/* malloc(0) may return NULL; the target gets a valid pointer. */
	uint8_t *data = malloc(size != 0 ? size : 1);
	if (data == NULL || fread(data, 1, size, f) != size) {
		fprintf(stderr, "replay: %s: cannot read\n", path);
		free(data);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(data, size);
	free(data);
	return 0;
}

/* Runs every regular file of directory @dir; adds to *@n. */
static int run_dir(const char *dir, unsigned long *n)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "replay: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	int rc = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		size_t len = strlen(dir) + 1 + strlen(e->d_name) + 1;
		char *path = malloc(len);
		if (path == NULL) {
			rc = -1;
			break;
		}
		snprintf(path, len, "%s/%s", dir, e->d_name);
		struct stat st;
		if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
			if (run_file(path) != 0)
				rc = -1;
			else
				(*n)++;
		}
		free(path);
	}
	closedir(d);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s <dir-or-file>...\n", argv[0]);
		return 2;
	}
	unsigned long n = 0;
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			fprintf(stderr, "replay: %s: %s\n", argv[i],
				strerror(errno));
			rc = 1;
		} else if (S_ISDIR(st.st_mode)) {
			if (run_dir(argv[i], &n) != 0)
				rc = 1;
		} else if (run_file(argv[i]) != 0) {
			rc = 1;
		} else {
			n++;
		}
	}
	printf("replay: %lu inputs\n", n);
	if (n == 0) {
		fprintf(stderr, "replay: no inputs\n");
		rc = 1;
	}
	return rc;
}
