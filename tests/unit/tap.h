/* tap.h — a tiny Test Anything Protocol helper for the unit tests.
 *
 * Usage:
 *   int main(void) {
 *       ok(1 + 1 == 2, "arithmetic");
 *       is_int(f(), 3, "f returns 3");
 *       is_str(s, "x", "s is x");
 *       return tap_done();      // prints the plan, exit status 0 iff all passed
 *   }
 * Output goes to stdout, diagnostics ("# ...") too, for Automake's TAP driver.
 * Header-only on purpose: each test program is one file plus this.
 */
#ifndef VELLUM_TAP_H
#define VELLUM_TAP_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed;

static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static inline int tap_ok(int cond, const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	tap_count++;
	printf("%sok %d - ", cond ? "" : "not ", tap_count);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	if (!cond) {
		tap_failed++;
		printf("#   failed at %s:%d\n", file, line);
	}
	fflush(stdout);
	return cond;
}

#define ok(cond, ...) tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

#define is_int(got, want, ...)                                                       \
	do {                                                                         \
		long long tap_g_ = (long long)(got), tap_w_ = (long long)(want);     \
		if (!tap_ok(tap_g_ == tap_w_, __FILE__, __LINE__, __VA_ARGS__))      \
			printf("#   got %lld, want %lld\n", tap_g_, tap_w_);         \
	} while (0)

#define is_str(got, want, ...)                                                       \
	do {                                                                         \
		const char *tap_g_ = (got), *tap_w_ = (want);                        \
		int tap_c_ = (tap_g_ && tap_w_) ? !strcmp(tap_g_, tap_w_)            \
		                                : tap_g_ == tap_w_;                  \
		if (!tap_ok(tap_c_, __FILE__, __LINE__, __VA_ARGS__))                \
			printf("#   got \"%s\", want \"%s\"\n", tap_g_ ? tap_g_ : "(null)", \
			       tap_w_ ? tap_w_ : "(null)");                         \
	} while (0)

#define is_mem(got, glen, want, wlen, ...)                                           \
	tap_ok((size_t)(glen) == (size_t)(wlen) && !memcmp((got), (want), (glen)),   \
	       __FILE__, __LINE__, __VA_ARGS__)

static inline void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline void diag(const char *fmt, ...)
{
	va_list ap;
	printf("# ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

static inline int tap_done(void)
{
	printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

/* A fresh private temporary directory for a test; caller removes it with
 * tap_rmtree.  Returns a static-lifetime malloc'd path (freed at exit). */
#include <sys/stat.h>
#include <unistd.h>
static inline char *tap_tmpdir(const char *tag)
{
	const char *base = getenv("TMPDIR");
	char *path = malloc(4096);
	snprintf(path, 4096, "%s/vellum-%s-XXXXXX", base ? base : "/tmp", tag);
	if (!mkdtemp(path)) {
		printf("Bail out! mkdtemp failed\n");
		exit(1);
	}
	return path;
}

static inline void tap_rmtree(const char *path)
{
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		diag("could not remove %s", path);
}

#endif
