/* query.c — the query language's syntax check and value grammar (DESIGN.md §6).
 *
 * Does: walk a query once, token by token, the way Xapian's QueryParser will
 * read it, and refuse — with what and at which column — everything the
 * QueryParser would otherwise repair silently (an unclosed quote or
 * parenthesis, a dangling AND, an unknown field, a date that is not one),
 * because a silently different query is a wrong audit answer.  Reads the
 * values of time and size fields into ranges (also used by xapian.cc when it
 * builds the query).
 *
 * Does not: build the Xapian query (xapian.cc), or know term prefixes.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ix_private.h"
#include "vellum/ix.h"
#include "vellum/util.h"

/* Parentheses nested deeper than this are refused: no person writes them,
 * and the QueryParser recurses on them. */
#define IXQ_DEPTH_MAX 32
/* Tokens in one query (IX_QUERY_MAX bytes allow about this many words). */
#define IXQ_TOKENS_MAX 8192

const ixq_field_t ixq_fields[] = {
    {"from", "from", IXQ_F_FROM, IXQ_ADDR},
    {"to", "to", IXQ_F_TO, IXQ_ADDR},
    {"cc", "cc", IXQ_F_CC, IXQ_ADDR},
    {"bcc", "bcc", IXQ_F_BCC, IXQ_ADDR},
    {"participant", "participant", IXQ_F_PARTICIPANT, IXQ_ADDR},
    {"subject", "subject", IXQ_F_SUBJECT, IXQ_TEXT},
    {"body", "body", IXQ_F_BODY, IXQ_TEXT},
    {"filename", "filename", IXQ_F_FILENAME, IXQ_TEXT},
    {"attachment", "attachment", IXQ_F_ATTACHMENT, IXQ_TEXT},
    {"message-id", "messageid", IXQ_F_MESSAGE_ID, IXQ_EXACT},
    {"archive", "archive", IXQ_F_ARCHIVE, IXQ_EXACT},
    {"has", "has", IXQ_F_HAS, IXQ_EXACT},
    {"is", "is", IXQ_F_IS, IXQ_EXACT},
    {"date", "date", IXQ_F_DATE, IXQ_TIME},
    {"received", "received", IXQ_F_RECEIVED, IXQ_TIME},
    {"after", "after", IXQ_F_AFTER, IXQ_TIME},
    {"before", "before", IXQ_F_BEFORE, IXQ_TIME},
    {"size", "size", IXQ_F_SIZE, IXQ_SIZE},
    {NULL, NULL, 0, 0},
};

const ixq_field_t *ixq_field_find(const char *name, size_t len)
{
	for (const ixq_field_t *f = ixq_fields; f->name; f++)
		if (strlen(f->name) == len && !strncasecmp(f->name, name, len))
			return f;
	return NULL;
}

/* ---- time values ---- */

static bool digits(const char *s, size_t n, int *out)
{
	int v = 0;
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

static int days_in_month(int y, int m)
{
	static const int d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : d[m - 1];
}

/* An absolute date or date-time (UTC) as [*start, *end): the whole year,
 * month, day, minute or second it names. */
static bool time_abs(const char *s, size_t n, int64_t *start, int64_t *end)
{
	int y, mo = 1, d = 1, h = 0, mi = 0, se = 0;
	enum { YEAR, MONTH, DAY, MINUTE, SECOND } unit = YEAR;
	if (n && s[n - 1] == 'Z')
		n--;
	if (n < 4 || !digits(s, 4, &y) || y < 1900 || y > 9999)
		return false;
	size_t i = 4;
	if (i < n) {
		if ((s[i] != '-' && s[i] != '/') || n < i + 3 || !digits(s + i + 1, 2, &mo))
			return false;
		i += 3;
		unit = MONTH;
	}
	if (i < n) {
		if ((s[i] != '-' && s[i] != '/') || n < i + 3 || !digits(s + i + 1, 2, &d))
			return false;
		i += 3;
		unit = DAY;
	}
	if (i < n) {
		if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || n < i + 6 ||
		    !digits(s + i + 1, 2, &h) || s[i + 3] != ':' || !digits(s + i + 4, 2, &mi))
			return false;
		i += 6;
		unit = MINUTE;
	}
	if (i < n) {
		if (s[i] != ':' || n != i + 3 || !digits(s + i + 1, 2, &se))
			return false;
		i += 3;
		unit = SECOND;
	}
	if (i != n || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    se > 59)
		return false;
	struct tm tm = {.tm_year = y - 1900,
	                .tm_mon = mo - 1,
	                .tm_mday = d,
	                .tm_hour = h,
	                .tm_min = mi,
	                .tm_sec = se};
	*start = (int64_t)timegm(&tm) * UTIL_US_PER_SEC;
	switch (unit) {
	case YEAR: tm.tm_year++; break;
	case MONTH: tm.tm_mon++; break;
	case DAY: tm.tm_mday++; break;
	case MINUTE: tm.tm_min++; break;
	case SECOND: tm.tm_sec++; break;
	}
	*end = (int64_t)timegm(&tm) * UTIL_US_PER_SEC;
	return true;
}

/* One time value: [*start, *end) for an absolute one; for a relative one
 * ("7d": that long before now) the instant, with *relative set. */
static bool time_one(const char *s, size_t n, int64_t now, int64_t *start, int64_t *end,
                     bool *relative)
{
	*relative = false;
	if (time_abs(s, n, start, end))
		return true;
	char tmp[32];
	if (n == 0 || n >= sizeof tmp || s[0] < '0' || s[0] > '9')
		return false;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	/* A bare number would read as seconds: say a unit. */
	if (tmp[n - 1] >= '0' && tmp[n - 1] <= '9')
		return false;
	util_duration_t d;
	if (util_parse_duration(tmp, &d) != UTIL_OK || d.forever)
		return false;
	*start = *end = util_duration_sub(now, &d);
	*relative = true;
	return true;
}

static char *time_err(const char *v)
{
	return xasprintf("cannot read '%s' as a time (use 2024-03-01, 2024-03, 2024, "
	                 "2024-03-01T12:00, 12h, 7d, 2w, 3mo, or A..B)",
	                 v);
}

bool ixq_time_range(ixq_field_id_t id, const char *v, int64_t now, int64_t *lo, int64_t *hi,
                    char **err)
{
	int64_t s1, e1, s2, e2;
	bool r1, r2;
	const char *dots = strstr(v, "..");
	*lo = INT64_MIN;
	*hi = INT64_MAX;
	if (dots) {
		if (id == IXQ_F_AFTER || id == IXQ_F_BEFORE) {
			*err = xasprintf("'%s': after: and before: take one time, not a range", v);
			return false;
		}
		size_t n1 = (size_t)(dots - v), n2 = strlen(dots + 2);
		if ((n1 && !time_one(v, n1, now, &s1, &e1, &r1)) ||
		    (n2 && !time_one(dots + 2, n2, now, &s2, &e2, &r2)) || (!n1 && !n2)) {
			*err = time_err(v);
			return false;
		}
		if (n1)
			*lo = s1;
		if (n2)
			*hi = r2 ? s2 : e2 - 1;
		return true;
	}
	if (!time_one(v, strlen(v), now, &s1, &e1, &r1)) {
		*err = time_err(v);
		return false;
	}
	if (id == IXQ_F_BEFORE)
		*hi = s1 - 1;
	else if (id == IXQ_F_AFTER || r1)
		*lo = s1; /* relative: "received:24h" = within the last 24 hours */
	else {
		*lo = s1;
		*hi = e1 - 1;
	}
	return true;
}

/* ---- size values ---- */

static bool size_one(const char *s, size_t n, uint64_t *out)
{
	char tmp[32];
	if (n == 0 || n >= sizeof tmp)
		return false;
	memcpy(tmp, s, n);
	tmp[n] = 0;
	return util_parse_size(tmp, out) == UTIL_OK;
}

bool ixq_size_range(const char *v, uint64_t *lo, uint64_t *hi, char **err)
{
	uint64_t a = 0, b = 0;
	size_t n = strlen(v);
	const char *dots = strstr(v, "..");
	bool good;
	*lo = 0;
	*hi = UINT64_MAX;
	if (dots) {
		size_t n1 = (size_t)(dots - v), n2 = strlen(dots + 2);
		good = (n1 || n2) && (!n1 || size_one(v, n1, &a)) &&
		       (!n2 || size_one(dots + 2, n2, &b));
		if (good && n1)
			*lo = a;
		if (good && n2)
			*hi = b;
	} else if (n >= 2 && (v[0] == '>' || v[0] == '<') && v[1] == '=') {
		good = size_one(v + 2, n - 2, &a);
		if (v[0] == '>')
			*lo = a;
		else
			*hi = a;
	} else if (n >= 1 && (v[0] == '>' || v[0] == '<')) {
		good = size_one(v + 1, n - 1, &a) && !(v[0] == '<' && a == 0) &&
		       !(v[0] == '>' && a == UINT64_MAX);
		if (v[0] == '>')
			*lo = a + 1;
		else
			*hi = a - 1;
	} else {
		/* "size:1M" = at least 1M, as mail clients read it. */
		good = size_one(v, n, &a);
		*lo = a;
	}
	if (!good)
		*err = xasprintf("cannot read '%s' as a size (use >1M, <10K, >=2M, 1M..5M)", v);
	return good;
}

/* ---- the syntax check ---- */

typedef enum { T_TERM, T_OP, T_NOT, T_OPEN, T_CLOSE } tok_type_t;

typedef struct tok {
	tok_type_t type;
	size_t start, len; /* in the query */
	bool hate;         /* "-term" */
	int depth;
	size_t namelen; /* field:value: length of the field name, else 0 */
} tok_t;

typedef struct lexer {
	const char *q;
	size_t n, i;
	int64_t now;
	tok_t *toks;
	size_t ntoks, cap;
	char *err;
	size_t namelen; /* set by lex_term for a field:value */
} lexer_t;

/* 1-based column of byte offset i, counting UTF-8 characters. */
static size_t column(const char *q, size_t i)
{
	size_t c = 1;
	for (size_t k = 0; k < i; k++)
		if (((uint8_t)q[k] & 0xC0) != 0x80)
			c++;
	return c;
}

static bool lex_fail(lexer_t *lx, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool lex_fail(lexer_t *lx, size_t at, const char *fmt, ...)
{
	buf_t b = {0};
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	buf_printf(&b, " at column %zu", column(lx->q, at));
	lx->err = buf_steal(&b);
	return false;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

static bool tok_push(lexer_t *lx, tok_type_t type, size_t start, size_t len, bool hate, int depth)
{
	if (lx->ntoks == IXQ_TOKENS_MAX)
		return lex_fail(lx, start, "too many terms");
	if (lx->ntoks == lx->cap) {
		lx->cap = lx->cap ? lx->cap * 2 : 16;
		lx->toks = xrealloc(lx->toks, lx->cap * sizeof *lx->toks);
	}
	lx->toks[lx->ntoks++] = (tok_t){type, start, len, hate, depth, lx->namelen};
	lx->namelen = 0;
	return true;
}

/* Index of the quote closing the one at q[i], or 0 when there is none. */
static size_t quote_end(const lexer_t *lx, size_t i)
{
	const char *e = memchr(lx->q + i + 1, '"', lx->n - i - 1);
	return e ? (size_t)(e - lx->q) : 0;
}

/* The values has: and is: know (terms the indexer adds; xapian.cc). */
static const char *const has_values[] = {"attachment", NULL};
static const char *const is_values[] = {"journal", "quarantined", "truncated",
                                        "nodate",  "unparsed",    NULL};

static bool value_known(const char *const *list, const char *v, size_t vn)
{
	for (; *list; list++)
		if (strlen(*list) == vn && !strncasecmp(*list, v, vn))
			return true;
	return false;
}

/* Checks the value of a field; v/vn is the value without quotes. */
static bool field_value_check(lexer_t *lx, const ixq_field_t *f, size_t at, const char *v,
                              size_t vn)
{
	if (f->id == IXQ_F_HAS || f->id == IXQ_F_IS) {
		const char *const *list = f->id == IXQ_F_HAS ? has_values : is_values;
		if (value_known(list, v, vn))
			return true;
		buf_t b = {0};
		for (const char *const *l = list; *l; l++)
			buf_printf(&b, "%s%s:%s", l == list ? "" : ", ", f->name, *l);
		lex_fail(lx, at, "unknown %s:%.*s (known: %s)", f->name, (int)(vn < 40 ? vn : 40),
		         v, (char *)b.data);
		buf_free(&b);
		return false;
	}
	if (f->kind != IXQ_TIME && f->kind != IXQ_SIZE)
		return true;
	char *val = xstrndup(v, vn), *err = NULL;
	bool good;
	if (f->kind == IXQ_TIME) {
		int64_t lo, hi;
		good = ixq_time_range(f->id, val, lx->now, &lo, &hi, &err);
	} else {
		uint64_t lo, hi;
		good = ixq_size_range(val, &lo, &hi, &err);
	}
	if (!good) {
		lex_fail(lx, at, "%s: %s", f->name, err);
	}
	free(err);
	free(val);
	return good;
}

/* Reads a term starting at lx->i (after any +/-): a "phrase", a field:value
 * or a plain word.  Returns its end, or 0 after setting lx->err. */
static size_t lex_term(lexer_t *lx, size_t start)
{
	const char *q = lx->q;
	size_t i = start;
	if (q[i] == '"') {
		size_t e = quote_end(lx, i);
		if (!e)
			return lex_fail(lx, i, "unterminated quote"), 0;
		return e + 1;
	}
	size_t k = i;
	while (k < lx->n && is_name_char(q[k]))
		k++;
	bool field = k > i && k < lx->n && q[k] == ':' && (q[i] < '0' || q[i] > '9') && q[i] != '-';
	if (!field) {
		while (i < lx->n && !is_space(q[i]) && q[i] != '(' && q[i] != ')')
			i++;
		return i;
	}
	char name[64];
	snprintf(name, sizeof name, "%.*s", (int)(k - i < 60 ? k - i : 60), q + i);
	const ixq_field_t *f = ixq_field_find(q + i, k - i);
	size_t v = k + 1;
	if (v >= lx->n || is_space(q[v]) || q[v] == ')') {
		if (!f) /* "re: hello": a word ending in ':' */
			return v;
		return lex_fail(lx, i, "'%s:' needs a value", name), 0;
	}
	if (!f)
		return lex_fail(lx, i,
		                "unknown field '%s' (put the words in quotes to search for them)",
		                name),
		       0;
	if (q[v] == '(')
		return lex_fail(lx, v,
		                "'%s:(...)' is not supported: repeat the field for each value",
		                name),
		       0;
	size_t vs = v, ve;
	if (q[v] == '"') {
		size_t e = quote_end(lx, v);
		if (!e)
			return lex_fail(lx, v, "unterminated quote"), 0;
		vs = v + 1;
		ve = e;
		v = e + 1;
	} else {
		while (v < lx->n && !is_space(q[v]) && q[v] != ')')
			v++;
		ve = v;
	}
	if (ve == vs)
		return lex_fail(lx, i, "'%s:' needs a value", name), 0;
	if (!field_value_check(lx, f, i, q + vs, ve - vs))
		return 0;
	lx->namelen = k - i;
	return v;
}

static bool is_word(const lexer_t *lx, size_t i, size_t len, const char *w)
{
	return len == strlen(w) && !memcmp(lx->q + i, w, len);
}

/* The walk: validates and records tokens. */
static bool lex_all(lexer_t *lx)
{
	const char *q = lx->q;
	int depth = 0;
	size_t open_at[IXQ_DEPTH_MAX];
	bool expect = true;       /* an operand must come next */
	tok_type_t prev = T_OPEN; /* the start behaves like '(' */
	while (lx->i < lx->n) {
		size_t i = lx->i;
		if (is_space(q[i])) {
			lx->i++;
			continue;
		}
		if (q[i] == '(') {
			if (depth == IXQ_DEPTH_MAX)
				return lex_fail(lx, i, "parentheses nested too deeply");
			open_at[depth++] = i;
			if (!tok_push(lx, T_OPEN, i, 1, false, depth))
				return false;
			expect = true;
			prev = T_OPEN;
			lx->i++;
			continue;
		}
		if (q[i] == ')') {
			if (depth == 0)
				return lex_fail(lx, i, "')' without '('");
			if (prev == T_OPEN)
				return lex_fail(lx, i, "empty parentheses");
			if (expect)
				return lex_fail(lx, i, "missing term before ')'");
			if (!tok_push(lx, T_CLOSE, i, 1, false, depth--))
				return false;
			expect = false;
			prev = T_CLOSE;
			lx->i++;
			continue;
		}
		bool hate = false, love = false;
		size_t s = i;
		if (q[i] == '-' || q[i] == '+') {
			hate = q[i] == '-';
			love = !hate;
			s = i + 1;
			if (s >= lx->n || is_space(q[s]) || q[s] == '(' || q[s] == ')')
				return lex_fail(lx, i, "'%s' must be followed by a term",
				                hate ? "-" : "+");
		}
		size_t e = lex_term(lx, s);
		if (!e)
			return false;
		size_t len = e - s;
		if (!hate && !love &&
		    (is_word(lx, s, len, "AND") || is_word(lx, s, len, "OR") ||
		     is_word(lx, s, len, "XOR"))) {
			if (expect)
				return lex_fail(lx, s, "'%s' needs a term before it",
				                is_word(lx, s, len, "AND") ? "AND"
				                : len == 2                 ? "OR"
				                                           : "XOR");
			if (!tok_push(lx, T_OP, s, len, false, depth))
				return false;
			expect = true;
			prev = T_OP;
		} else if (!hate && !love && is_word(lx, s, len, "NOT")) {
			if (prev == T_NOT)
				return lex_fail(lx, s, "'NOT NOT'");
			if (!tok_push(lx, T_NOT, s, len, false, depth))
				return false;
			expect = true;
			prev = T_NOT;
		} else {
			if ((hate || love) && (prev == T_OP || prev == T_NOT))
				return lex_fail(lx, i,
				                "'%s' after an operator: write NOT instead of '-'",
				                hate ? "-" : "+");
			if (is_word(lx, s, len, "*"))
				return lex_fail(
				    lx, s, "'*' alone matches everything and cannot be combined");
			if (!tok_push(lx, T_TERM, s, len, hate, depth))
				return false;
			expect = false;
			prev = T_TERM;
		}
		lx->i = e;
	}
	if (depth > 0)
		return lex_fail(lx, open_at[depth - 1], "'(' is never closed");
	if (expect && lx->ntoks)
		return lex_fail(lx, lx->toks[lx->ntoks - 1].start, "query ends with an operator");
	return true;
}

/* Rebuilds the query for the QueryParser.  A query made only of "-term"s
 * means "everything except": Xapian would read "-a -b" as "a AND b", so
 * those become "NOT a NOT b" (FLAG_PURE_NOT). */
static char *lex_emit(const lexer_t *lx)
{
	bool only_hate = lx->ntoks > 0;
	for (size_t t = 0; t < lx->ntoks; t++)
		if (lx->toks[t].type != T_TERM || !lx->toks[t].hate || lx->toks[t].depth)
			only_hate = false;
	buf_t b = {0};
	for (size_t t = 0; t < lx->ntoks; t++) {
		const tok_t *k = &lx->toks[t];
		if (b.len)
			buf_append_byte(&b, ' ');
		if (k->hate)
			buf_append_str(&b, only_hate ? "NOT " : "-");
		/* Field names are matched case-insensitively here, exactly by the
		 * QueryParser: hand it the name it knows. */
		if (k->namelen)
			buf_append_str(&b, ixq_field_find(lx->q + k->start, k->namelen)->qp_name);
		buf_append(&b, lx->q + k->start + k->namelen, k->len - k->namelen);
	}
	return buf_steal(&b);
}

char *ixq_prepare(const char *q, int64_t now, bool *match_all, char **err)
{
	*match_all = false;
	*err = NULL;
	if (!q)
		q = "";
	size_t n = strlen(q);
	if (n > IX_QUERY_MAX) {
		*err = xasprintf("query longer than %d bytes", IX_QUERY_MAX);
		return NULL;
	}
	if (!util_utf8_valid((const uint8_t *)q, n)) {
		*err = xstrdup("query is not valid UTF-8");
		return NULL;
	}
	size_t a = 0, z = n;
	while (a < z && is_space(q[a]))
		a++;
	while (z > a && is_space(q[z - 1]))
		z--;
	if (a == z || (z - a == 1 && q[a] == '*')) {
		*match_all = true;
		return xstrdup("");
	}
	lexer_t lx = {.q = q, .n = n, .i = 0, .now = now};
	char *out = NULL;
	if (lex_all(&lx))
		out = lex_emit(&lx);
	else
		*err = lx.err;
	free(lx.toks);
	return out;
}
