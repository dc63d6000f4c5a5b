/* util.h — the utility layer: buffers, allocation, time, units, files, networks.
 *
 * Knows nothing about mail, SMTP, HTTP or the store.  Everything here is safe to
 * call from any thread.  Functions that can fail return util_status_t (0 = OK)
 * and log nothing unless they say so: the caller knows what the failure means.
 */
#ifndef VELLUM_UTIL_H
#define VELLUM_UTIL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

typedef enum {
	UTIL_OK = 0,
	UTIL_EINVAL,   /* malformed input (a size, a duration, an address) */
	UTIL_ERANGE,   /* well-formed but out of range or overflowing */
	UTIL_EIO,      /* a system call failed; errno is preserved */
	UTIL_ENOENT,   /* no such file */
	UTIL_ETOOBIG,  /* input larger than the caller's limit */
} util_status_t;

/* Static text for a status. */
const char *util_strerror(util_status_t st);

/* ---- allocation ----
 * Out of memory is not recoverable for a server that must not lose mail
 * half-way; these log and abort.  Lengths from the network or disk are checked
 * against named maxima before they get here, so hostile input cannot reach
 * the abort. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);                     /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* a * b, or false when it overflows size_t. */
bool util_mul_ok(size_t a, size_t b, size_t *out);
bool util_add_ok(size_t a, size_t b, size_t *out);

/* ---- growable byte buffer ----
 * A buffer is a pointer and a length; data is kept NUL-terminated for
 * convenience but may hold NULs.  The zero value is an empty buffer. */
typedef struct buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} buf_t;

void buf_reserve(buf_t *b, size_t extra);
void buf_append(buf_t *b, const void *p, size_t n);
void buf_append_str(buf_t *b, const char *s);
void buf_append_byte(buf_t *b, uint8_t c);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
void buf_reset(buf_t *b);                         /* len = 0, keeps memory */
void buf_free(buf_t *b);                          /* frees, back to zero value */
/* Takes the bytes out as a NUL-terminated string; caller frees; b is reset. */
char *buf_steal(buf_t *b);

/* ---- strings ---- */
/* Trims ASCII whitespace in place; returns s. */
char *util_strtrim(char *s);
bool util_streq_ci(const char *a, const char *b);
bool util_str_has_prefix(const char *s, const char *prefix);
/* Splits a list "a, b c" on commas and whitespace.  Returns a NULL-terminated
 * array; *count gets its length.  Caller frees with util_strv_free. */
char **util_split_list(const char *s, size_t *count);
void util_strv_free(char **v);
/* Lower-hex of n bytes into out (2n+1 bytes). */
void util_hex(const uint8_t *p, size_t n, char *out);
/* Parses exactly 2n hex digits into out. */
util_status_t util_unhex(const char *hex, uint8_t *out, size_t n);
/* True if s is a valid archive (or listener) name: [a-z0-9][a-z0-9._-]{0,63}.
 * One rule for every module: names appear in ids ("<archive>-<seq>"), paths
 * and URLs.  Names starting with '_' are internal logs and fail this check. */
#define UTIL_NAME_MAX 64
bool util_name_valid(const char *s);
/* True if p[0..n) is valid UTF-8 (no overlongs, no surrogates). */
bool util_utf8_valid(const uint8_t *p, size_t n);

/* ---- time ----
 * Times are microseconds since the epoch, UTC.  With --enable-test-hooks the
 * clock can be moved by tests (util_fault.c); everything that reads "now"
 * must call util_now(). */
int64_t util_now(void);
int64_t util_monotonic_us(void);
#define UTIL_US_PER_SEC INT64_C(1000000)
/* "2026-11-23T10:31:46Z" (or with ".123456" when frac) into out. */
#define UTIL_TIME_MAX 40
void util_time_format(int64_t us, bool frac, char out[UTIL_TIME_MAX]);
/* RFC 3339 / ISO 8601 date or date-time, UTC unless an offset is given:
 * "2024-03-01", "2024-03-01T12:00:00Z", "2024-03-01 12:00", "...+02:00". */
util_status_t util_time_parse(const char *s, int64_t *us);

/* ---- units (DESIGN.md §4) ----
 * Sizes: a number with optional K M G (KiB MiB GiB) or T.  Durations: a number
 * with s min h d w mo y; mo and y are calendar months and years, so a
 * duration is kept as a pair and added to a time with util_duration_add. */
util_status_t util_parse_size(const char *s, uint64_t *out);
typedef struct util_duration {
	int64_t seconds;  /* s, min, h, d, w */
	int32_t months;   /* mo, y (12 mo) */
	bool forever;     /* "permanent" / "forever" where the caller allows it */
} util_duration_t;
util_status_t util_parse_duration(const char *s, util_duration_t *out);
/* time + duration (calendar arithmetic for months, UTC); INT64_MAX if forever. */
int64_t util_duration_add(int64_t us, const util_duration_t *d);
int64_t util_duration_sub(int64_t us, const util_duration_t *d);
/* Seconds of a duration without months (months count as 30 days): for
 * timeouts, never for retention. */
int64_t util_duration_approx_seconds(const util_duration_t *d);
/* "1d", "2mo", "permanent" into out. */
void util_duration_format(const util_duration_t *d, char *out, size_t n);

/* ---- files ---- */
/* mkdir -p with mode for each created component. */
util_status_t util_mkdir_p(const char *path, mode_t mode);
util_status_t util_fsync_dir(const char *dir);
/* Writes path via path.tmp + fsync + rename + fsync of the directory. */
util_status_t util_write_file_atomic(const char *path, const void *p, size_t n, mode_t mode);
/* Reads a whole file of at most max bytes into b (appends). */
util_status_t util_read_file(const char *path, size_t max, buf_t *b);
/* Directory part of path ("." when none); caller frees. */
char *util_dirname(const char *path);
/* dir/name, or name alone when name is absolute; caller frees. */
char *util_path_join(const char *dir, const char *name);
/* write()/read() the whole buffer, retrying on EINTR and short counts. */
util_status_t util_write_all(int fd, const void *p, size_t n);
util_status_t util_read_all(int fd, void *p, size_t n, size_t *got);

/* ---- networks ---- */
typedef struct cidr {
	int family;        /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	uint8_t prefix;
} cidr_t;
/* "10.0.0.0/8", "::1", "192.168.1.7" (a host is /32 or /128). */
util_status_t util_cidr_parse(const char *s, cidr_t *out);
/* Does the sockaddr fall in any of n networks?  IPv4-mapped IPv6 addresses
 * match IPv4 networks. */
struct sockaddr;
bool util_cidr_match(const cidr_t *nets, size_t n, const struct sockaddr *sa);
/* "host:port" or "[v6]:port" into family/address/port; port 0 is allowed. */
util_status_t util_hostport_parse(const char *s, struct sockaddr_storage *out,
                                  size_t *outlen);
/* Numeric address and port of a sockaddr, "127.0.0.1" / 2525. */
void util_sockaddr_format(const struct sockaddr *sa, char *addr, size_t n, int *port);
bool util_sockaddr_is_loopback(const struct sockaddr *sa);

/* ---- fault injection and clock override (test-hooks build only) ----
 * util_fault(point) returns an errno value to simulate at that call site, or
 * 0.  Points and counts come from VELLUM_FAULTS="store.fsync:3:EIO,..." (fail
 * the 3rd call and every later one with "+", e.g. "store.write:5+:ENOSPC").
 * The clock override reads VELLUM_TEST_CLOCK_FILE: a file holding a signed
 * offset in seconds added to the real clock, re-read when it changes. */
#ifdef VELLUM_TEST_HOOKS
int util_fault(const char *point);
#else
static inline int util_fault(const char *point) { (void)point; return 0; }
#endif
bool util_test_hooks_enabled(void);

#endif
