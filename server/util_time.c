/* util_time.c — the clock, time formatting and parsing, size and duration units.
 *
 * Does: UTC time in microseconds (with the test-hooks clock override applied),
 * RFC 3339 formatting/parsing, DESIGN.md §4 units (sizes K M G T; durations
 * s min h d w mo y with calendar months).  Does not: know local time zones;
 * everything is UTC.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vellum/util.h"

int64_t util_test_clock_offset(void); /* util_fault.c */

int64_t util_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int64_t us = (int64_t)ts.tv_sec * UTIL_US_PER_SEC + ts.tv_nsec / 1000;
#ifdef VELLUM_TEST_HOOKS
	us += util_test_clock_offset() * UTIL_US_PER_SEC;
#endif
	return us;
}

int64_t util_monotonic_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * UTIL_US_PER_SEC + ts.tv_nsec / 1000;
}

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

void util_time_format(int64_t us, bool frac, char out[UTIL_TIME_MAX])
{
	time_t secs = (time_t)floor_div(us, UTIL_US_PER_SEC);
	int64_t rem = us - (int64_t)secs * UTIL_US_PER_SEC;
	struct tm tm;
	if (!gmtime_r(&secs, &tm)) {
		snprintf(out, UTIL_TIME_MAX, "invalid-time");
		return;
	}
	size_t n = strftime(out, UTIL_TIME_MAX, "%Y-%m-%dT%H:%M:%S", &tm);
	if (frac)
		snprintf(out + n, UTIL_TIME_MAX - n, ".%06" PRId64 "Z", rem);
	else
		snprintf(out + n, UTIL_TIME_MAX - n, "Z");
}

static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (!isdigit((unsigned char)(*p)[i]))
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

util_status_t util_time_parse(const char *s, int64_t *us)
{
	const char *p = s;
	int y, mo, d, h = 0, mi = 0, sec = 0;
	int64_t frac_us = 0;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return UTIL_EINVAL;
	if (*p == 'T' || *p == 't' || *p == ' ') {
		p++;
		if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
			return UTIL_EINVAL;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &sec))
				return UTIL_EINVAL;
			if (*p == '.') {
				p++;
				int64_t scale = 100000;
				if (!isdigit((unsigned char)*p))
					return UTIL_EINVAL;
				while (isdigit((unsigned char)*p)) {
					frac_us += (*p - '0') * scale;
					scale /= 10;
					p++;
				}
			}
		}
	}
	int off_min = 0;
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p++ == '-' ? -1 : 1, oh, om;
		if (!digits(&p, 2, &oh))
			return UTIL_EINVAL;
		if (*p == ':')
			p++;
		if (!digits(&p, 2, &om))
			return UTIL_EINVAL;
		off_min = sign * (oh * 60 + om);
	}
	if (*p)
		return UTIL_EINVAL;
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return UTIL_ERANGE;
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
	                .tm_hour = h, .tm_min = mi, .tm_sec = sec};
	time_t t = timegm(&tm);
	/* timegm normalises 31 Feb into March: refuse that instead. */
	if (tm.tm_mday != d || tm.tm_mon != mo - 1)
		return UTIL_ERANGE;
	*us = ((int64_t)t - (int64_t)off_min * 60) * UTIL_US_PER_SEC + frac_us;
	return UTIL_OK;
}

/* Reads the leading unsigned decimal number; *end gets what follows. */
static util_status_t leading_number(const char *s, uint64_t *v, const char **end)
{
	const char *p = s;
	while (isspace((unsigned char)*p))
		p++;
	if (!isdigit((unsigned char)*p))
		return UTIL_EINVAL;
	uint64_t n = 0;
	while (isdigit((unsigned char)*p)) {
		if (__builtin_mul_overflow(n, 10, &n) ||
		    __builtin_add_overflow(n, (uint64_t)(*p - '0'), &n))
			return UTIL_ERANGE;
		p++;
	}
	while (isspace((unsigned char)*p))
		p++;
	*v = n;
	*end = p;
	return UTIL_OK;
}

util_status_t util_parse_size(const char *s, uint64_t *out)
{
	uint64_t n, mult = 1;
	const char *p;
	util_status_t st = leading_number(s, &n, &p);
	if (st)
		return st;
	char unit[8] = {0};
	size_t ul = 0;
	while (*p && !isspace((unsigned char)*p) && ul < sizeof unit - 1)
		unit[ul++] = (char)toupper((unsigned char)*p++);
	while (isspace((unsigned char)*p))
		p++;
	if (*p)
		return UTIL_EINVAL;
	if (ul == 0 || !strcmp(unit, "B"))
		mult = 1;
	else if (!strcmp(unit, "K") || !strcmp(unit, "KB") || !strcmp(unit, "KIB"))
		mult = UINT64_C(1) << 10;
	else if (!strcmp(unit, "M") || !strcmp(unit, "MB") || !strcmp(unit, "MIB"))
		mult = UINT64_C(1) << 20;
	else if (!strcmp(unit, "G") || !strcmp(unit, "GB") || !strcmp(unit, "GIB"))
		mult = UINT64_C(1) << 30;
	else if (!strcmp(unit, "T") || !strcmp(unit, "TB") || !strcmp(unit, "TIB"))
		mult = UINT64_C(1) << 40;
	else
		return UTIL_EINVAL;
	if (__builtin_mul_overflow(n, mult, out))
		return UTIL_ERANGE;
	return UTIL_OK;
}

util_status_t util_parse_duration(const char *s, util_duration_t *out)
{
	memset(out, 0, sizeof *out);
	char tmp[32];
	snprintf(tmp, sizeof tmp, "%s", s);
	util_strtrim(tmp);
	if (!strcmp(tmp, "permanent") || !strcmp(tmp, "forever")) {
		out->forever = true;
		return UTIL_OK;
	}
	uint64_t n;
	const char *p;
	util_status_t st = leading_number(s, &n, &p);
	if (st)
		return st;
	char unit[8] = {0};
	size_t ul = 0;
	while (*p && !isspace((unsigned char)*p) && ul < sizeof unit - 1)
		unit[ul++] = (char)tolower((unsigned char)*p++);
	while (isspace((unsigned char)*p))
		p++;
	if (*p || ul == 0)
		return UTIL_EINVAL;
	static const struct {
		const char *name;
		int64_t secs;
		int32_t months;
	} units[] = {
		{"s", 1, 0},        {"sec", 1, 0},      {"min", 60, 0},
		{"h", 3600, 0},     {"d", 86400, 0},
		{"w", 604800, 0},   {"mo", 0, 1},       {"y", 0, 12},
	};
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(unit, units[i].name))
			continue;
		if (units[i].months) {
			if (n > 12000)  /* a thousand years is enough retention */
				return UTIL_ERANGE;
			out->months = (int32_t)n * units[i].months;
		} else {
			if (n > (uint64_t)INT64_MAX / (uint64_t)units[i].secs / UTIL_US_PER_SEC)
				return UTIL_ERANGE;
			out->seconds = (int64_t)n * units[i].secs;
		}
		return UTIL_OK;
	}
	return UTIL_EINVAL;
}

static int64_t add_months(int64_t us, int32_t months)
{
	time_t secs = (time_t)floor_div(us, UTIL_US_PER_SEC);
	int64_t rem = us - (int64_t)secs * UTIL_US_PER_SEC;
	struct tm tm;
	gmtime_r(&secs, &tm);
	int day = tm.tm_mday;
	int64_t mon = (int64_t)tm.tm_year * 12 + tm.tm_mon + months;
	tm.tm_year = (int)floor_div(mon, 12);
	tm.tm_mon = (int)(mon - (int64_t)tm.tm_year * 12);
	/* 31 Jan + 1mo is the last day of February, not 3 March. */
	static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	int y = tm.tm_year + 1900;
	int last = mdays[tm.tm_mon] +
	           (tm.tm_mon == 1 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
	tm.tm_mday = day > last ? last : day;
	return (int64_t)timegm(&tm) * UTIL_US_PER_SEC + rem;
}

int64_t util_duration_add(int64_t us, const util_duration_t *d)
{
	if (d->forever)
		return INT64_MAX;
	int64_t t = us + d->seconds * UTIL_US_PER_SEC;
	return d->months ? add_months(t, d->months) : t;
}

int64_t util_duration_sub(int64_t us, const util_duration_t *d)
{
	if (d->forever)
		return INT64_MIN;
	int64_t t = us - d->seconds * UTIL_US_PER_SEC;
	return d->months ? add_months(t, -d->months) : t;
}

int64_t util_duration_approx_seconds(const util_duration_t *d)
{
	if (d->forever)
		return INT64_MAX / UTIL_US_PER_SEC;
	return d->seconds + (int64_t)d->months * 30 * 86400;
}

void util_duration_format(const util_duration_t *d, char *out, size_t n)
{
	if (d->forever) {
		snprintf(out, n, "permanent");
	} else if (d->months && !d->seconds) {
		if (d->months % 12 == 0)
			snprintf(out, n, "%dy", d->months / 12);
		else
			snprintf(out, n, "%dmo", d->months);
	} else if (d->seconds % 604800 == 0 && d->seconds) {
		snprintf(out, n, "%" PRId64 "w", d->seconds / 604800);
	} else if (d->seconds % 86400 == 0 && d->seconds) {
		snprintf(out, n, "%" PRId64 "d", d->seconds / 86400);
	} else if (d->seconds % 3600 == 0 && d->seconds) {
		snprintf(out, n, "%" PRId64 "h", d->seconds / 3600);
	} else if (d->seconds % 60 == 0 && d->seconds) {
		snprintf(out, n, "%" PRId64 "min", d->seconds / 60);
	} else {
		snprintf(out, n, "%" PRId64 "s", d->seconds);
	}
}
