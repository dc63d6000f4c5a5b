/* util_fault.c — test hooks: fault injection and the clock override.
 *
 * Compiled into every build, but the hooks themselves exist only with
 * --enable-test-hooks (VELLUM_TEST_HOOKS); the default and installed build has
 * util_fault() as an inline that returns 0 and no clock offset at all.
 *
 * VELLUM_FAULTS="point:N:ERRNO[,point:N+:ERRNO...]" makes the Nth call at
 * `point` (counted from 1 in this process) fail with ERRNO; "N+" fails that
 * call and every later one.  ERRNO is a name (EIO, ENOSPC, EACCES, ENOENT,
 * EINTR) or a number.  VELLUM_TEST_CLOCK_FILE names a file holding a signed
 * offset in seconds added to the real clock; it is re-read when its mtime
 * changes, so a test can move a running server's clock.
 *
 * The counters are process-global by necessity (call sites are everywhere);
 * they exist only in test builds.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "vellum/util.h"

bool util_test_hooks_enabled(void)
{
#ifdef VELLUM_TEST_HOOKS
	return true;
#else
	return false;
#endif
}

int64_t util_test_clock_offset(void);

#ifdef VELLUM_TEST_HOOKS

#define FAULT_RULES_MAX 32 /* more than any test sets at once */

struct fault_rule {
	char point[64];
	unsigned long nth;
	bool sticky;
	int err;
	unsigned long calls;
};

static pthread_mutex_t fault_lock = PTHREAD_MUTEX_INITIALIZER;
static struct fault_rule fault_rules[FAULT_RULES_MAX];
static size_t fault_nrules;
static bool fault_loaded;

static int errno_by_name(const char *s)
{
	static const struct { const char *n; int e; } names[] = {
		{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EACCES", EACCES}, {"ENOENT", ENOENT},
		{"EINTR", EINTR}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS}, {"ENOMEM", ENOMEM},
	};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (!strcmp(s, names[i].n))
			return names[i].e;
	return atoi(s);
}

static void fault_load(void)
{
	const char *spec = getenv("VELLUM_FAULTS");
	fault_loaded = true;
	if (!spec)
		return;
	char *copy = xstrdup(spec), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && fault_nrules < FAULT_RULES_MAX;
	     tok = strtok_r(NULL, ",", &save)) {
		char *c1 = strchr(tok, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c1 || !c2 || (size_t)(c1 - tok) >= sizeof fault_rules[0].point)
			continue;
		struct fault_rule *r = &fault_rules[fault_nrules++];
		memset(r, 0, sizeof *r);
		memcpy(r->point, tok, (size_t)(c1 - tok));
		r->nth = strtoul(c1 + 1, NULL, 10);
		r->sticky = c2[-1] == '+';
		r->err = errno_by_name(c2 + 1);
	}
	free(copy);
}

int util_fault(const char *point)
{
	int err = 0;
	pthread_mutex_lock(&fault_lock);
	if (!fault_loaded)
		fault_load();
	for (size_t i = 0; i < fault_nrules; i++) {
		struct fault_rule *r = &fault_rules[i];
		if (strcmp(r->point, point))
			continue;
		r->calls++;
		if (r->calls == r->nth || (r->sticky && r->calls > r->nth))
			err = r->err;
	}
	pthread_mutex_unlock(&fault_lock);
	if (err)
		fprintf(stderr, "vellum: test hook: injecting %s at %s\n", strerror(err), point);
	return err;
}

static pthread_mutex_t clock_lock = PTHREAD_MUTEX_INITIALIZER;
static struct timespec clock_mtime;
static int64_t clock_offset;

int64_t util_test_clock_offset(void)
{
	const char *path = getenv("VELLUM_TEST_CLOCK_FILE");
	if (!path)
		return 0;
	struct stat st;
	int64_t off;
	pthread_mutex_lock(&clock_lock);
	if (stat(path, &st) == 0 && (st.st_mtim.tv_sec != clock_mtime.tv_sec ||
	                             st.st_mtim.tv_nsec != clock_mtime.tv_nsec)) {
		FILE *f = fopen(path, "r");
		long long v = 0;
		if (f) {
			if (fscanf(f, "%lld", &v) == 1)
				clock_offset = v;
			fclose(f);
		}
		clock_mtime = st.st_mtim;
	}
	off = clock_offset;
	pthread_mutex_unlock(&clock_lock);
	return off;
}

#else

int64_t util_test_clock_offset(void)
{
	return 0;
}

#endif
