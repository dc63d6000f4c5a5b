/* ingest.c — the routing table: which archives keep a copy for a recipient.
 *
 * Does: build an immutable table from archives and their address patterns
 * (exact addresses, "*@domain", "*"), optionally restricted to the archives a
 * listener may feed, and look recipients up in it: exact addresses and
 * domains by binary search over sorted, ASCII-lower-cased keys, catch-alls
 * by a list.  Does not: know about SMTP, the database or the store; the
 * caller supplies the archive list and acts on the answer.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "vellum/ingest.h"
#include "vellum/log.h"
#include "vellum/util.h"

const char *ingest_strerror(ingest_status_t st)
{
	switch (st) {
	case INGEST_OK: return "ok";
	case INGEST_EPATTERN: return "invalid address pattern";
	case INGEST_ENAME: return "invalid archive name";
	case INGEST_ESOURCE: return "archive list unavailable";
	}
	return "unknown error";
}

void ingest_archive_list_add(ingest_archive_list_t *l, const char *name,
                             const char *const *addresses, size_t naddresses)
{
	l->v = xrealloc(l->v, (l->n + 1) * sizeof *l->v);
	char **addrs = xcalloc(naddresses + 1, sizeof *addrs);
	for (size_t i = 0; i < naddresses; i++)
		addrs[i] = xstrdup(addresses[i]);
	l->v[l->n].name = xstrdup(name);
	l->v[l->n].addresses = (const char *const *)addrs;
	l->v[l->n].naddresses = naddresses;
	l->n++;
}

void ingest_archive_list_free(ingest_archive_list_t *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free((char *)l->v[i].name);
		for (size_t k = 0; k < l->v[i].naddresses; k++)
			free((char *)l->v[i].addresses[k]);
		free((char **)l->v[i].addresses);
	}
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

bool ingest_archive_name_valid(const char *s)
{
	return util_name_valid(s); /* the one rule (util.h) */
}

bool ingest_pattern_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > INGEST_ADDR_MAX)
		return false;
	if (!strcmp(s, "*"))
		return true;
	const char *at = strrchr(s, '@');
	if (!at || at == s || at[1] == '\0')
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= 0x20 || c == 0x7f || c == '<' || c == '>')
			return false;
	}
	/* '*' only as the whole local part: no partial wildcards. */
	const char *star = strchr(s, '*');
	if (star && (star != s || at != s + 1 || strchr(star + 1, '*')))
		return false;
	/* The domain holds no '@' and no quotes; the local part may (quoted). */
	if (strchr(at + 1, '"'))
		return false;
	return util_utf8_valid((const uint8_t *)s, n);
}

typedef struct route_key {
	char *key;      /* lower-cased address or domain */
	size_t archive; /* index into names */
} route_key_t;

struct ingest_routes {
	char **names;
	size_t n;
	route_key_t *exact, *domains;
	size_t nexact, ndomains;
	size_t *any; /* archives with "*" */
	size_t nany;
};

static char *lower_dup(const char *s, size_t n)
{
	char *d = xstrndup(s, n);
	for (char *p = d; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	return d;
}

static int key_cmp(const void *a, const void *b)
{
	const route_key_t *x = a, *y = b;
	int c = strcmp(x->key, y->key);
	if (c)
		return c;
	return (x->archive > y->archive) - (x->archive < y->archive);
}

static bool name_allowed(const char *name, const char *const *only, size_t nonly)
{
	if (!only || nonly == 0)
		return true;
	for (size_t i = 0; i < nonly; i++)
		if (!strcmp(only[i], name))
			return true;
	return false;
}

static void add_key(route_key_t **v, size_t *n, const char *s, size_t len, size_t archive)
{
	*v = xrealloc(*v, (*n + 1) * sizeof **v);
	(*v)[*n].key = lower_dup(s, len);
	(*v)[*n].archive = archive;
	(*n)++;
}

/* Sorts and drops duplicate (key, archive) pairs, so a lookup finds each
 * archive at most once per list. */
static void sort_unique(route_key_t *v, size_t *n)
{
	if (*n == 0)
		return;
	qsort(v, *n, sizeof *v, key_cmp);
	size_t w = 1;
	for (size_t r = 1; r < *n; r++) {
		if (!strcmp(v[r].key, v[w - 1].key) && v[r].archive == v[w - 1].archive) {
			free(v[r].key);
			continue;
		}
		v[w++] = v[r];
	}
	*n = w;
}

static void add_archive(ingest_routes_t *r, const ingest_archive_t *a, size_t *skipped)
{
	size_t idx = r->n;
	bool any = false;
	r->names = xrealloc(r->names, (r->n + 2) * sizeof *r->names);
	r->names[r->n++] = xstrdup(a->name);
	r->names[r->n] = NULL;
	for (size_t k = 0; k < a->naddresses; k++) {
		const char *p = a->addresses[k];
		if (!p || !ingest_pattern_valid(p)) {
			char q[LOG_Q_MAX];
			log_warn("ingest.pattern", "archive=%s pattern=%s skipped=invalid", a->name,
			         log_q(q, sizeof q, p ? p : ""));
			(*skipped)++;
		} else if (!strcmp(p, "*")) {
			if (!any)
				r->any[r->nany++] = idx;
			any = true;
		} else if (p[0] == '*') {
			add_key(&r->domains, &r->ndomains, p + 2, strlen(p + 2), idx);
		} else {
			add_key(&r->exact, &r->nexact, p, strlen(p), idx);
		}
	}
}

ingest_routes_t *ingest_routes_new(const ingest_archive_t *archives, size_t n,
                                   const char *const *only, size_t nonly, size_t *skipped)
{
	ingest_routes_t *r = xcalloc(1, sizeof *r);
	size_t skip = 0;
	r->any = xcalloc(n + 1, sizeof *r->any);
	for (size_t i = 0; i < n; i++) {
		const ingest_archive_t *a = &archives[i];
		if (!a->name || !ingest_archive_name_valid(a->name)) {
			char q[LOG_Q_MAX];
			log_warn("ingest.archive", "name=%s skipped=invalid",
			         log_q(q, sizeof q, a->name ? a->name : ""));
			skip++;
			continue;
		}
		if (name_allowed(a->name, only, nonly))
			add_archive(r, a, &skip);
	}
	sort_unique(r->exact, &r->nexact);
	sort_unique(r->domains, &r->ndomains);
	if (skipped)
		*skipped = skip;
	return r;
}

void ingest_routes_free(ingest_routes_t *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nexact; i++)
		free(r->exact[i].key);
	for (size_t i = 0; i < r->ndomains; i++)
		free(r->domains[i].key);
	free(r->exact);
	free(r->domains);
	util_strv_free(r->names);
	free(r->any);
	free(r);
}

size_t ingest_routes_count(const ingest_routes_t *r)
{
	return r->n;
}

const char *ingest_routes_archive(const ingest_routes_t *r, size_t i)
{
	return i < r->n ? r->names[i] : NULL;
}

/* Adds archive a to the sorted set out[0..*k) unless it is there. */
static void set_add(size_t *out, size_t *k, size_t a)
{
	size_t i = 0;
	while (i < *k && out[i] < a)
		i++;
	if (i < *k && out[i] == a)
		return;
	memmove(out + i + 1, out + i, (*k - i) * sizeof *out);
	out[i] = a;
	(*k)++;
}

/* All entries of v (sorted) whose key is exactly key. */
static void match_keys(const route_key_t *v, size_t n, const char *key, size_t *out, size_t *k)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(v[mid].key, key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < n && !strcmp(v[lo].key, key); lo++)
		set_add(out, k, v[lo].archive);
}

size_t ingest_routes_lookup(const ingest_routes_t *r, const char *addr, size_t n, size_t *out)
{
	size_t k = 0;
	char key[INGEST_ADDR_MAX + 1];
	if (n > INGEST_ADDR_MAX || memchr(addr, '\0', n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = addr[i];
		key[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	key[n] = '\0';
	match_keys(r->exact, r->nexact, key, out, &k);
	const char *at = strrchr(key, '@');
	if (at && at[1])
		match_keys(r->domains, r->ndomains, at + 1, out, &k);
	for (size_t i = 0; i < r->nany; i++)
		set_add(out, &k, r->any[i]);
	return k;
}
