/* log.h — one line per event, key=value fields, levels.
 *
 * Line format (stderr):
 *   ts=2026-11-23T10:31:46.123456Z level=info event=smtp.accept client=127.0.0.1 port=40112
 * `event` names what happened as <module>.<what>.  The fields are printf-formatted
 * by the caller; a value that may hold spaces, quotes or control characters goes
 * through log_q(), which quotes and escapes it.
 *
 * Rule (STYLE.md): the function that sees errno logs the failure once; callers
 * that get a status back do not log it again.
 */
#ifndef VELLUM_LOG_H
#define VELLUM_LOG_H

#include <stdarg.h>
#include <stddef.h>

typedef enum {
	LOG_LEVEL_DEBUG = 0,
	LOG_LEVEL_INFO,
	LOG_LEVEL_WARN,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_OFF,
} log_level_t;

/* Process-wide, set once by main before threads start.  Default: info, or
 * VELLUM_LOG_LEVEL (debug|info|warn|error|off) from the environment. */
void log_set_level(log_level_t level);
log_level_t log_get_level(void);
/* Parses "debug" etc.; returns -1 when unknown. */
int log_level_parse(const char *s);
/* Tag added to every line as proc=NAME (e.g. "indexer" in the child). */
void log_set_proc(const char *name);

void log_event(log_level_t level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_eventv(log_level_t level, const char *event, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

#define log_debug(ev, ...) log_event(LOG_LEVEL_DEBUG, ev, __VA_ARGS__)
#define log_info(ev, ...)  log_event(LOG_LEVEL_INFO, ev, __VA_ARGS__)
#define log_warn(ev, ...)  log_event(LOG_LEVEL_WARN, ev, __VA_ARGS__)
#define log_error(ev, ...) log_event(LOG_LEVEL_ERROR, ev, __VA_ARGS__)

/* Quotes s for a field value into buf (always NUL-terminated, truncated with
 * "..." if n is too small): plain tokens pass as they are; anything with
 * spaces, quotes, '=' or bytes outside printable ASCII becomes "..." with \"
 * \\ \n \r \t and \xNN escapes.  Returns buf. */
#define LOG_Q_MAX 512
const char *log_q(char *buf, size_t n, const char *s);

#endif
