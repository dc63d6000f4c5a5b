/* config.c — the vellum.conf(5) parser.
 *
 * Does: parse INI text (sections, `key = value`, `#`/`;` comments, quoted
 * values) into config_t through one table of known keys; layer the file over
 * the embedded defaults; resolve relative paths; report the first error with
 * file, line and key.  Does not: touch the data dir, the database or sockets —
 * it only describes what the process should do.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vellum/config.h"
#include "vellum/util.h"

static const char defaults_text[] =
	"# Vellum embedded defaults (vellum.conf(5)).\n"
	"[storage]\n"
	"data_dir = ./var\n"
	"segment_max = 256M\n"
	"segment_max_age = 1d\n"
	"master_key_file = ./vellum-master.key\n"
	"master_key_command =\n"
	"min_free = 1G\n"
	"\n"
	"[smtp]\n"
	"listen = 127.0.0.1:2525\n"
	"hostname = vellum.local\n"
	"max_message_size = 64M\n"
	"allow_clients = 127.0.0.0/8 ::1\n"
	"deny_clients =\n"
	"require_tls = no\n"
	"tls_min_version = 1.2\n"
	"tls_cert =\n"
	"tls_key =\n"
	"auth = none\n"
	"auth_plain_on_loopback = no\n"
	"max_connections = 1000\n"
	"max_per_client = 100\n"
	"max_recipients = 1000\n"
	"max_line = 64K\n"
	"idle_timeout = 5min\n"
	"session_timeout = 30min\n"
	"archives =\n"
	"\n"
	"[http]\n"
	"listen = 127.0.0.1:8025\n"
	"tls_cert =\n"
	"tls_key =\n"
	"metrics_allow = 127.0.0.0/8 ::1\n"
	"allow_plain_http = no\n"
	"require_totp_for_admin = no\n"
	"session_idle = 30min\n"
	"session_max = 12h\n"
	"export_ttl = 7d\n"
	"\n"
	"[archive \"default\"]\n"
	"addresses = *\n"
	"retention = permanent\n";

const char *config_defaults_text(void)
{
	return defaults_text;
}

const char *config_strerror(config_status_t st)
{
	switch (st) {
	case CONFIG_OK: return "ok";
	case CONFIG_EIO: return "cannot read configuration";
	case CONFIG_ESYNTAX: return "syntax error";
	case CONFIG_EKEY: return "unknown or missing key";
	case CONFIG_EVALUE: return "invalid value";
	}
	return "unknown error";
}

typedef enum { SEC_STORAGE, SEC_LISTENER, SEC_HTTP, SEC_ARCHIVE } section_kind_t;

typedef enum {
	T_STR,      /* char *, empty string becomes NULL */
	T_PATH,     /* char *, resolved against the layer's base dir */
	T_SIZE,     /* uint64_t */
	T_DUR,      /* util_duration_t, "permanent" allowed */
	T_SECS,     /* int64_t seconds, no calendar units */
	T_BOOL,     /* bool: yes/no true/false on/off 1/0 */
	T_UINT,     /* unsigned */
	T_CIDRS,    /* cidr_t * + size_t count right after it */
	T_LIST,     /* char ** + size_t count right after it */
	T_AUTH,     /* bool auth_required: none|required */
	T_TLSVER,   /* char *: 1.2|1.3 */
	T_LISTEN,   /* char *: host:port, numeric */
} value_type_t;

struct key_def {
	section_kind_t sec;
	const char *key;
	value_type_t type;
	size_t off;       /* into config_t, config_listener_t or config_archive_t */
	size_t count_off; /* for lists */
	uint64_t min, max;
};

#define L(f) offsetof(config_listener_t, f)
#define S(f) offsetof(config_t, storage.f)
#define H(f) offsetof(config_t, http.f)
#define A(f) offsetof(config_archive_t, f)

static const struct key_def keys[] = {
	{SEC_STORAGE, "data_dir", T_PATH, S(data_dir), 0, 0, 0},
	{SEC_STORAGE, "segment_max", T_SIZE, S(segment_max), 0, 1u << 20, UINT64_C(1) << 40},
	{SEC_STORAGE, "segment_max_age", T_DUR, S(segment_max_age), 0, 0, 0},
	{SEC_STORAGE, "master_key_file", T_PATH, S(master_key_file), 0, 0, 0},
	{SEC_STORAGE, "master_key_command", T_STR, S(master_key_command), 0, 0, 0},
	{SEC_STORAGE, "min_free", T_SIZE, S(min_free), 0, 0, UINT64_MAX},
	{SEC_LISTENER, "listen", T_LISTEN, L(listen), 0, 0, 0},
	{SEC_LISTENER, "hostname", T_STR, L(hostname), 0, 0, 0},
	{SEC_LISTENER, "max_message_size", T_SIZE, L(max_message_size), 0, 1024, UINT64_C(1) << 40},
	{SEC_LISTENER, "allow_clients", T_CIDRS, L(allow_clients), L(n_allow_clients), 0, 0},
	{SEC_LISTENER, "deny_clients", T_CIDRS, L(deny_clients), L(n_deny_clients), 0, 0},
	{SEC_LISTENER, "require_tls", T_BOOL, L(require_tls), 0, 0, 0},
	{SEC_LISTENER, "tls_min_version", T_TLSVER, L(tls_min_version), 0, 0, 0},
	{SEC_LISTENER, "tls_cert", T_PATH, L(tls_cert), 0, 0, 0},
	{SEC_LISTENER, "tls_key", T_PATH, L(tls_key), 0, 0, 0},
	{SEC_LISTENER, "auth", T_AUTH, L(auth_required), 0, 0, 0},
	{SEC_LISTENER, "auth_plain_on_loopback", T_BOOL, L(auth_plain_on_loopback), 0, 0, 0},
	{SEC_LISTENER, "max_connections", T_UINT, L(max_connections), 0, 1, 1000000},
	{SEC_LISTENER, "max_per_client", T_UINT, L(max_per_client), 0, 1, 1000000},
	{SEC_LISTENER, "max_recipients", T_UINT, L(max_recipients), 0, 1, 1000000},
	/* RFC 5321 §4.5.3.1.6: a text line is at least 1000 octets. */
	{SEC_LISTENER, "max_line", T_SIZE, L(max_line), 0, 1000, 1u << 30},
	{SEC_LISTENER, "idle_timeout", T_SECS, L(idle_timeout), 0, 1, 86400 * 7},
	{SEC_LISTENER, "session_timeout", T_SECS, L(session_timeout), 0, 1, 86400 * 7},
	{SEC_LISTENER, "archives", T_LIST, L(archives), L(narchives), 0, 0},
	{SEC_HTTP, "listen", T_LISTEN, H(listen), 0, 0, 0},
	{SEC_HTTP, "tls_cert", T_PATH, H(tls_cert), 0, 0, 0},
	{SEC_HTTP, "tls_key", T_PATH, H(tls_key), 0, 0, 0},
	{SEC_HTTP, "metrics_allow", T_CIDRS, H(metrics_allow), H(n_metrics_allow), 0, 0},
	{SEC_HTTP, "allow_plain_http", T_BOOL, H(allow_plain_http), 0, 0, 0},
	{SEC_HTTP, "require_totp_for_admin", T_BOOL, H(require_totp_for_admin), 0, 0, 0},
	{SEC_HTTP, "session_idle", T_SECS, H(session_idle), 0, 60, 86400 * 366},
	{SEC_HTTP, "session_max", T_SECS, H(session_max), 0, 60, 86400 * 366},
	{SEC_HTTP, "export_ttl", T_SECS, H(export_ttl), 0, 60, 86400 * 3660},
	{SEC_ARCHIVE, "addresses", T_LIST, A(addresses), A(naddresses), 0, 0},
	{SEC_ARCHIVE, "retention", T_DUR, A(retention), 0, 0, 0},
	{SEC_ARCHIVE, "internal_domains", T_LIST, A(internal_domains), A(ninternal_domains), 0, 0},
	{SEC_ARCHIVE, "quiet_alert", T_DUR, A(quiet_alert), 0, 0, 0},
	{SEC_ARCHIVE, "compliance", T_BOOL, A(compliance), 0, 0, 0},
};

#define NKEYS (sizeof keys / sizeof keys[0])

/* ---- freeing and copying values through the table ---- */

static void value_free(const struct key_def *k, void *base)
{
	char *p = (char *)base + k->off;
	switch (k->type) {
	case T_STR: case T_PATH: case T_TLSVER: case T_LISTEN:
		free(*(char **)p);
		*(char **)p = NULL;
		break;
	case T_CIDRS:
		free(*(cidr_t **)p);
		*(cidr_t **)p = NULL;
		*(size_t *)((char *)base + k->count_off) = 0;
		break;
	case T_LIST:
		util_strv_free(*(char ***)p);
		*(char ***)p = NULL;
		*(size_t *)((char *)base + k->count_off) = 0;
		break;
	default:
		break;
	}
}

static void section_free(section_kind_t sec, void *base)
{
	for (size_t i = 0; i < NKEYS; i++)
		if (keys[i].sec == sec)
			value_free(&keys[i], base);
}

static void listener_copy(config_listener_t *dst, const config_listener_t *src)
{
	*dst = *src;
	dst->name = NULL;
	for (size_t i = 0; i < NKEYS; i++) {
		const struct key_def *k = &keys[i];
		if (k->sec != SEC_LISTENER)
			continue;
		const char *sp = (const char *)src + k->off;
		char *dp = (char *)dst + k->off;
		size_t n = k->count_off ? *(const size_t *)((const char *)src + k->count_off) : 0;
		switch (k->type) {
		case T_STR: case T_PATH: case T_TLSVER: case T_LISTEN:
			*(char **)dp = xstrdup(*(char *const *)sp);
			break;
		case T_CIDRS:
			*(cidr_t **)dp = n ? xmalloc(n * sizeof(cidr_t)) : NULL;
			if (n)
				memcpy(*(cidr_t **)dp, *(cidr_t *const *)sp, n * sizeof(cidr_t));
			break;
		case T_LIST: {
			char **v = xcalloc(n + 1, sizeof *v);
			for (size_t j = 0; j < n; j++)
				v[j] = xstrdup((*(char **const *)sp)[j]);
			*(char ***)dp = v;
			break;
		}
		default:
			break;
		}
	}
}

void config_free(config_t *c)
{
	if (!c)
		return;
	section_free(SEC_STORAGE, c);
	section_free(SEC_HTTP, c);
	for (size_t i = 0; i < c->nlisteners; i++) {
		section_free(SEC_LISTENER, &c->listeners[i]);
		free(c->listeners[i].name);
	}
	free(c->listeners);
	for (size_t i = 0; i < c->narchives; i++) {
		section_free(SEC_ARCHIVE, &c->archives[i]);
		free(c->archives[i].name);
	}
	free(c->archives);
	free(c->path);
	free(c->base_dir);
	free(c);
}

/* ---- parsing state ---- */

struct parser {
	config_t *cfg;
	const char *label;
	const char *base_dir;
	unsigned line;
	bool is_defaults;
	bool file_has_archives;
	config_listener_t *listener_template; /* built-in [smtp] values */
	section_kind_t sec;
	bool in_section;
	void *base;               /* struct the current section's keys write to */
	char secname[160];        /* "[smtp]", "[listener \"x\"]" for messages */
	char seen[NKEYS];         /* keys set in the current section of this layer */
	char **err;
};

static config_status_t fail(struct parser *p, config_status_t st, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static config_status_t fail(struct parser *p, config_status_t st, const char *fmt, ...)
{
	buf_t b = {0};
	if (p->line)
		buf_printf(&b, "%s:%u: ", p->label, p->line);
	else
		buf_printf(&b, "%s: ", p->label);
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	free(*p->err);
	*p->err = buf_steal(&b);
	return st;
}

static config_status_t parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};
	for (size_t i = 0; i < 4; i++) {
		if (util_streq_ci(v, yes[i])) {
			*out = true;
			return CONFIG_OK;
		}
		if (util_streq_ci(v, no[i])) {
			*out = false;
			return CONFIG_OK;
		}
	}
	return CONFIG_EVALUE;
}

static config_status_t bad_value(struct parser *p, const struct key_def *k, const char *v,
                                 const char *why)
{
	return fail(p, CONFIG_EVALUE, "bad value '%s' for %s in %s: %s", v, k->key, p->secname,
	            why);
}

static config_status_t set_cidrs(struct parser *p, const struct key_def *k, const char *v,
                                 void *base)
{
	size_t n;
	char **items = util_split_list(v, &n);
	cidr_t *nets = n ? xcalloc(n, sizeof *nets) : NULL;
	for (size_t i = 0; i < n; i++) {
		if (util_cidr_parse(items[i], &nets[i]) != UTIL_OK) {
			config_status_t st = fail(p, CONFIG_EVALUE,
			                          "bad network '%s' for %s in %s", items[i],
			                          k->key, p->secname);
			util_strv_free(items);
			free(nets);
			return st;
		}
	}
	util_strv_free(items);
	value_free(k, base);
	*(cidr_t **)((char *)base + k->off) = nets;
	*(size_t *)((char *)base + k->count_off) = n;
	return CONFIG_OK;
}

static config_status_t set_value(struct parser *p, const struct key_def *k, const char *v)
{
	void *base = p->base;
	char *field = (char *)base + k->off;
	switch (k->type) {
	case T_STR:
		value_free(k, base);
		*(char **)field = *v ? xstrdup(v) : NULL;
		return CONFIG_OK;
	case T_PATH: {
		value_free(k, base);
		*(char **)field = *v ? util_path_join(p->base_dir, v) : NULL;
		return CONFIG_OK;
	}
	case T_LISTEN: {
		struct sockaddr_storage ss;
		size_t sl;
		if (util_hostport_parse(v, &ss, &sl) != UTIL_OK)
			return bad_value(p, k, v, "expected a numeric address and port, "
			                          "e.g. 127.0.0.1:2525 or [::1]:2525");
		value_free(k, base);
		*(char **)field = xstrdup(v);
		return CONFIG_OK;
	}
	case T_TLSVER:
		if (strcmp(v, "1.2") && strcmp(v, "1.3"))
			return bad_value(p, k, v, "expected 1.2 or 1.3");
		value_free(k, base);
		*(char **)field = xstrdup(v);
		return CONFIG_OK;
	case T_SIZE: {
		uint64_t n;
		util_status_t st = util_parse_size(v, &n);
		if (st)
			return bad_value(p, k, v, "expected a size such as 512K, 64M or 1G");
		if (n < k->min || n > k->max)
			return bad_value(p, k, v, "out of range");
		*(uint64_t *)field = n;
		return CONFIG_OK;
	}
	case T_DUR: {
		util_duration_t d;
		if (util_parse_duration(v, &d))
			return bad_value(p, k, v, "expected a duration such as 30min, 12h, 7d, "
			                          "6mo, 7y or permanent");
		*(util_duration_t *)field = d;
		return CONFIG_OK;
	}
	case T_SECS: {
		util_duration_t d;
		if (util_parse_duration(v, &d) || d.forever || d.months)
			return bad_value(p, k, v, "expected a duration such as 30s, 5min or 12h");
		if ((uint64_t)d.seconds < k->min || (uint64_t)d.seconds > k->max)
			return bad_value(p, k, v, "out of range");
		*(int64_t *)field = d.seconds;
		return CONFIG_OK;
	}
	case T_BOOL:
		if (parse_bool(v, (bool *)field))
			return bad_value(p, k, v, "expected yes or no");
		return CONFIG_OK;
	case T_AUTH:
		if (!strcmp(v, "none"))
			*(bool *)field = false;
		else if (!strcmp(v, "required"))
			*(bool *)field = true;
		else
			return bad_value(p, k, v, "expected none or required");
		return CONFIG_OK;
	case T_UINT: {
		char *end;
		errno = 0;
		unsigned long long n = strtoull(v, &end, 10);
		if (!*v || *end || errno || !isdigit((unsigned char)*v))
			return bad_value(p, k, v, "expected a whole number");
		if (n < k->min || n > k->max)
			return bad_value(p, k, v, "out of range");
		*(unsigned *)field = (unsigned)n;
		return CONFIG_OK;
	}
	case T_CIDRS:
		return set_cidrs(p, k, v, base);
	case T_LIST: {
		size_t n;
		char **items = util_split_list(v, &n);
		value_free(k, base);
		*(char ***)field = items;
		*(size_t *)((char *)base + k->count_off) = n;
		return CONFIG_OK;
	}
	}
	return CONFIG_EVALUE;
}

/* ---- sections ---- */

static config_listener_t *listener_add(config_t *c, const char *name,
                                       const config_listener_t *tmpl)
{
	c->listeners = xrealloc(c->listeners, (c->nlisteners + 1) * sizeof *c->listeners);
	config_listener_t *l = &c->listeners[c->nlisteners++];
	memset(l, 0, sizeof *l);
	if (tmpl)
		listener_copy(l, tmpl);
	l->name = xstrdup(name);
	return l;
}

static config_archive_t *archive_add(config_t *c, const char *name)
{
	c->archives = xrealloc(c->archives, (c->narchives + 1) * sizeof *c->archives);
	config_archive_t *a = &c->archives[c->narchives++];
	memset(a, 0, sizeof *a);
	a->name = xstrdup(name);
	a->retention.forever = true;
	a->quiet_alert.seconds = 86400;
	return a;
}

static config_status_t begin_section(struct parser *p, char *line)
{
	char *end = strrchr(line, ']');
	if (!end || end[1])
		return fail(p, CONFIG_ESYNTAX, "malformed section header");
	*end = '\0';
	char *name = util_strtrim(line + 1);
	char *sub = NULL;
	char *q = strchr(name, '"');
	if (q) {
		char *q2 = strrchr(q + 1, '"');
		if (!q2 || q2[1])
			return fail(p, CONFIG_ESYNTAX, "malformed section header");
		*q2 = '\0';
		sub = q + 1;
		*q = '\0';
		util_strtrim(name);
	}
	memset(p->seen, 0, sizeof p->seen);
	p->in_section = true;
	config_t *c = p->cfg;
	if (!strcmp(name, "storage") && !sub) {
		p->sec = SEC_STORAGE;
		p->base = c;
		snprintf(p->secname, sizeof p->secname, "[storage]");
	} else if (!strcmp(name, "http") && !sub) {
		p->sec = SEC_HTTP;
		p->base = c;
		snprintf(p->secname, sizeof p->secname, "[http]");
	} else if (!strcmp(name, "smtp") && !sub) {
		p->sec = SEC_LISTENER;
		if (c->nlisteners == 0)
			listener_add(c, "default", NULL);
		p->base = &c->listeners[0];
		snprintf(p->secname, sizeof p->secname, "[smtp]");
	} else if ((!strcmp(name, "listener") || !strcmp(name, "archive")) && sub) {
		bool is_listener = name[0] == 'l';
		snprintf(p->secname, sizeof p->secname, "[%s \"%.64s\"]", name, sub);
		if (!util_name_valid(sub))
			return fail(p, CONFIG_EVALUE, "bad name in %s: use a-z, 0-9, '-', '_', '.'",
			            p->secname);
		if (is_listener) {
			if (!strcmp(sub, "default"))
				return fail(p, CONFIG_EKEY, "listener \"default\" is [smtp]; "
				                            "name this one differently");
			if (config_listener_find(c, sub))
				return fail(p, CONFIG_EKEY, "%s defined twice", p->secname);
			p->sec = SEC_LISTENER;
			p->base = listener_add(c, sub, p->listener_template);
			free(((config_listener_t *)p->base)->listen);
			((config_listener_t *)p->base)->listen = NULL;
		} else {
			if (!p->is_defaults && !p->file_has_archives) {
				/* The file names its own archives: drop the embedded one. */
				for (size_t i = 0; i < c->narchives; i++) {
					section_free(SEC_ARCHIVE, &c->archives[i]);
					free(c->archives[i].name);
				}
				c->narchives = 0;
				p->file_has_archives = true;
			}
			for (size_t i = 0; i < c->narchives; i++)
				if (!strcmp(c->archives[i].name, sub))
					return fail(p, CONFIG_EKEY, "%s defined twice", p->secname);
			if (sub[0] == '_')
				return fail(p, CONFIG_EVALUE, "archive names starting with '_' are "
				                              "reserved");
			p->sec = SEC_ARCHIVE;
			p->base = archive_add(c, sub);
		}
	} else {
		p->in_section = false;
		return fail(p, CONFIG_EKEY, "unknown section [%s%s%s%s]", name, sub ? " \"" : "",
		            sub ? sub : "", sub ? "\"" : "");
	}
	return CONFIG_OK;
}

/* Splits "key = value # comment" in place; handles "quoted values". */
static config_status_t split_kv(struct parser *p, char *line, char **key, char **val)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return fail(p, CONFIG_ESYNTAX, "expected 'key = value', a [section] or a comment");
	*eq = '\0';
	*key = util_strtrim(line);
	char *v = eq + 1;
	while (isspace((unsigned char)*v))
		v++;
	if (*v == '"') {
		char *close = strchr(v + 1, '"');
		if (!close)
			return fail(p, CONFIG_ESYNTAX, "unterminated quoted value for '%s'", *key);
		char *rest = close + 1;
		while (isspace((unsigned char)*rest))
			rest++;
		if (*rest && *rest != '#' && *rest != ';')
			return fail(p, CONFIG_ESYNTAX, "text after quoted value for '%s'", *key);
		*close = '\0';
		*val = v + 1;
		return CONFIG_OK;
	}
	/* An inline comment starts at whitespace followed by # or ;. */
	for (char *c = v; *c; c++) {
		if ((*c == '#' || *c == ';') && (c == v || isspace((unsigned char)c[-1]))) {
			*c = '\0';
			break;
		}
	}
	*val = util_strtrim(v);
	return CONFIG_OK;
}

static config_status_t parse_line(struct parser *p, char *line)
{
	char *s = util_strtrim(line);
	if (!*s || *s == '#' || *s == ';')
		return CONFIG_OK;
	if (*s == '[')
		return begin_section(p, s);
	char *key = NULL, *val = NULL;
	config_status_t st = split_kv(p, s, &key, &val);
	if (st)
		return st;
	if (!p->in_section)
		return fail(p, CONFIG_EKEY, "key '%s' outside any section", key);
	for (size_t i = 0; i < NKEYS; i++) {
		if (keys[i].sec != p->sec || strcmp(keys[i].key, key))
			continue;
		if (p->seen[i])
			return fail(p, CONFIG_EKEY, "duplicate key '%s' in %s", key, p->secname);
		p->seen[i] = 1;
		return set_value(p, &keys[i], val);
	}
	return fail(p, CONFIG_EKEY, "unknown key '%s' in %s", key, p->secname);
}

static config_status_t parse_text(struct parser *p, const char *text, size_t len)
{
	if (memchr(text, '\0', len))
		return fail(p, CONFIG_ESYNTAX, "NUL byte in configuration");
	p->line = 0;
	p->in_section = false;
	size_t pos = 0;
	while (pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (text + pos)) : len - pos;
		p->line++;
		if (ll > CONFIG_LINE_MAX)
			return fail(p, CONFIG_ESYNTAX, "line longer than %u bytes", CONFIG_LINE_MAX);
		char *line = xstrndup(text + pos, ll);
		config_status_t st = parse_line(p, line);
		free(line);
		if (st)
			return st;
		pos += ll + (nl ? 1 : 0);
	}
	p->line = 0;
	return CONFIG_OK;
}

static config_status_t validate(struct parser *p)
{
	config_t *c = p->cfg;
	for (size_t i = 0; i < c->nlisteners; i++) {
		config_listener_t *l = &c->listeners[i];
		if (!l->listen)
			return fail(p, CONFIG_EKEY, "[listener \"%s\"] needs listen = ADDRESS:PORT",
			            l->name);
		if ((l->tls_cert == NULL) != (l->tls_key == NULL))
			return fail(p, CONFIG_EKEY, "listener %s: tls_cert and tls_key go together",
			            l->name);
		if (l->require_tls && !l->tls_cert)
			return fail(p, CONFIG_EKEY, "listener %s: require_tls needs tls_cert and "
			                            "tls_key", l->name);
		if (l->max_per_client > l->max_connections)
			l->max_per_client = l->max_connections;
	}
	if ((c->http.tls_cert == NULL) != (c->http.tls_key == NULL))
		return fail(p, CONFIG_EKEY, "[http] tls_cert and tls_key go together");
	if (c->storage.master_key_file && c->storage.data_dir) {
		size_t dl = strlen(c->storage.data_dir);
		if (!strncmp(c->storage.master_key_file, c->storage.data_dir, dl) &&
		    c->storage.master_key_file[dl] == '/')
			return fail(p, CONFIG_EVALUE, "master_key_file must be outside data_dir "
			                              "(a copy of the data must not carry its key)");
	}
	return CONFIG_OK;
}

config_status_t config_load_string(const char *text, size_t len, const char *label,
                                   const char *base_dir, config_t **out, char **err)
{
	*out = NULL;
	*err = NULL;
	config_t *c = xcalloc(1, sizeof *c);
	char cwd[PATH_MAX];
	if (!getcwd(cwd, sizeof cwd))
		snprintf(cwd, sizeof cwd, ".");
	struct parser p = {.cfg = c, .label = "embedded defaults", .base_dir = cwd,
	                   .is_defaults = true, .err = err};
	config_status_t st = parse_text(&p, defaults_text, sizeof defaults_text - 1);
	if (st) {
		config_free(c);
		return st;
	}
	config_listener_t tmpl;
	listener_copy(&tmpl, &c->listeners[0]);
	p.listener_template = &tmpl;
	if (text) {
		p.label = label;
		p.base_dir = base_dir ? base_dir : cwd;
		p.is_defaults = false;
		st = parse_text(&p, text, len);
		c->path = xstrdup(label);
	}
	c->base_dir = xstrdup(p.base_dir);
	if (!st)
		st = validate(&p);
	section_free(SEC_LISTENER, &tmpl);
	if (st) {
		config_free(c);
		return st;
	}
	*out = c;
	return CONFIG_OK;
}

config_status_t config_load(const char *path, config_t **out, char **err)
{
	*out = NULL;
	*err = NULL;
	if (!path)
		return config_load_string(NULL, 0, NULL, NULL, out, err);
	buf_t b = {0};
	util_status_t us = util_read_file(path, CONFIG_FILE_MAX, &b);
	if (us) {
		*err = xasprintf("%s: %s", path,
		                 us == UTIL_ETOOBIG ? "file too large" :
		                 us == UTIL_ENOENT ? "no such file" : strerror(errno));
		buf_free(&b);
		return CONFIG_EIO;
	}
	char *dir = util_dirname(path);
	char absdir[PATH_MAX];
	if (!realpath(dir, absdir))
		snprintf(absdir, sizeof absdir, "%s", dir);
	config_status_t st = config_load_string(b.data ? (const char *)b.data : "", b.len, path,
	                                        absdir, out, err);
	free(dir);
	buf_free(&b);
	return st;
}

const config_listener_t *config_listener_find(const config_t *c, const char *name)
{
	for (size_t i = 0; i < c->nlisteners; i++)
		if (!strcmp(c->listeners[i].name, name))
			return &c->listeners[i];
	return NULL;
}

char *config_data_path(const config_t *c, const char *rel)
{
	return util_path_join(c->storage.data_dir, rel);
}
