/* replay_main.c — runs a fuzz target's corpus as an ordinary test (TAP).
 *
 * Each fuzz target (fuzz_<name>.c) defines LLVMFuzzerTestOneInput.  Linked
 * with this file instead of libFuzzer, the same target replays every file in
 * tests/fuzz/corpus/<name>/ (found from VELLUM_SRCDIR and the program's
 * name), so every crash ever found stays a regression test in every build,
 * including the sanitizer tier.  Any file named on the command line is
 * replayed instead.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/tap.h"
#include "vellum/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static void replay(const char *path)
{
	buf_t b = {0};
	util_status_t st = util_read_file(path, 64u << 20, &b);
	if (st) {
		ok(0, "read %s: %s", path, util_strerror(st));
		return;
	}
	/* A private copy of exactly the input's size, so ASan sees overreads. */
	uint8_t *copy = xmalloc(b.len ? b.len : 1);
	if (b.len)
		memcpy(copy, b.data, b.len);
	LLVMFuzzerTestOneInput(copy, b.len);
	free(copy);
	buf_free(&b);
	ok(1, "%s", path);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv)
{
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc > 1) {
		for (int i = 1; i < argc; i++)
			replay(argv[i]);
		return tap_done();
	}
	const char *base = strrchr(argv[0], '/');
	base = base ? base + 1 : argv[0];
	if (strncmp(base, "replay_", 7) != 0) {
		printf("Bail out! cannot tell the target from %s\n", argv[0]);
		return 1;
	}
	const char *src = getenv("VELLUM_SRCDIR");
	char *dir = xasprintf("%s/tests/fuzz/corpus/%s", src ? src : ".", base + 7);
	DIR *d = opendir(dir);
	if (!d) {
		printf("Bail out! no corpus at %s\n", dir);
		return 1;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xasprintf("%s/%s", dir, e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, cmp);
	for (size_t i = 0; i < n; i++) {
		replay(names[i]);
		free(names[i]);
	}
	free(names);
	free(dir);
	if (n == 0)
		ok(0, "corpus is not empty");
	return tap_done();
}
