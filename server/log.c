/* log.c — key=value event lines on stderr.
 *
 * Each event is formatted into one buffer and written with a single write(2),
 * so lines from threads and from the indexer child never interleave mid-line.
 * The level and process tag are set once by main before any thread starts.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vellum/log.h"
#include "vellum/util.h"

static log_level_t log_min = LOG_LEVEL_INFO;
static bool log_env_read;
static char log_proc[32];

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

int log_level_parse(const char *s)
{
	for (int i = 0; i <= LOG_LEVEL_OFF; i++)
		if (!strcmp(s, level_names[i]))
			return i;
	return -1;
}

void log_set_level(log_level_t level)
{
	log_min = level;
	log_env_read = true;
}

static void log_read_env(void)
{
	const char *e = getenv("VELLUM_LOG_LEVEL");
	int l = e ? log_level_parse(e) : -1;
	if (l >= 0)
		log_min = (log_level_t)l;
	log_env_read = true;
}

log_level_t log_get_level(void)
{
	if (!log_env_read)
		log_read_env();
	return log_min;
}

void log_set_proc(const char *name)
{
	snprintf(log_proc, sizeof log_proc, "%s", name ? name : "");
}

void log_eventv(log_level_t level, const char *event, const char *fmt, va_list ap)
{
	if (level < log_get_level() || level >= LOG_LEVEL_OFF)
		return;
	char ts[UTIL_TIME_MAX];
	util_time_format(util_now(), true, ts);
	buf_t b = {0};
	buf_printf(&b, "ts=%s level=%s", ts, level_names[level]);
	if (log_proc[0])
		buf_printf(&b, " proc=%s", log_proc);
	buf_printf(&b, " event=%s", event);
	if (fmt && *fmt) {
		buf_append_byte(&b, ' ');
		buf_vprintf(&b, fmt, ap);
	}
	/* A field value must never start a new line: that would let a hostile
	 * HELO forge log events. */
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\r')
			b.data[i] = ' ';
	buf_append_byte(&b, '\n');
	(void)util_write_all(2, b.data, b.len);
	buf_free(&b);
}

void log_event(log_level_t level, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	log_eventv(level, event, fmt, ap);
	va_end(ap);
}

const char *log_q(char *buf, size_t n, const char *s)
{
	if (n == 0)
		return buf;
	if (!s)
		s = "";
	bool plain = *s != '\0';
	for (const unsigned char *p = (const unsigned char *)s; *p && plain; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '"' || *p == '=' || *p == '\\')
			plain = false;
	if (plain) {
		size_t l = strlen(s);
		if (l < n) {
			memcpy(buf, s, l + 1);
			return buf;
		}
	}
	size_t o = 0;
	/* Room for the closing quote, "..." and NUL. */
	size_t limit = n > 6 ? n - 6 : 0;
	if (o < limit)
		buf[o++] = '"';
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		char esc[5];
		size_t el;
		switch (*p) {
		case '"': memcpy(esc, "\\\"", 2); el = 2; break;
		case '\\': memcpy(esc, "\\\\", 2); el = 2; break;
		case '\n': memcpy(esc, "\\n", 2); el = 2; break;
		case '\r': memcpy(esc, "\\r", 2); el = 2; break;
		case '\t': memcpy(esc, "\\t", 2); el = 2; break;
		default:
			if (*p < ' ' || *p == 0x7f) {
				snprintf(esc, sizeof esc, "\\x%02x", *p);
				el = 4;
			} else {
				esc[0] = (char)*p;
				el = 1;
			}
		}
		if (o + el > limit) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		memcpy(buf + o, esc, el);
		o += el;
	}
	if (o + 2 <= n) {
		buf[o++] = '"';
	}
	buf[o < n ? o : n - 1] = '\0';
	return buf;
}
