/* auth_guard.c — the login guard: failed-login throttling and a bound on
 * concurrent Argon2id hashes.
 *
 * Does: count failed logins per user name and per client address within
 * AUTH_THROTTLE_WINDOW_S; at the limit, lock the key out for
 * AUTH_THROTTLE_LOCK_S, doubling with each further failure (capped), so
 * guessing is slow and a locked-out user's wait stays short; keep at most
 * AUTH_THROTTLE_KEYS_MAX keys; hand out hash slots (a counting semaphore
 * with a bounded wait).
 * Does not: check passwords, audit, or answer HTTP (the API does, with 429
 * and Retry-After).  State is in memory: a restart forgets it, which costs
 * an attacker a server restart per few guesses — not a useful trade.
 * Time comes from util_now(), so tests can move the clock.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vellum/auth.h"
#include "vellum/util.h"

/* "u:" or "a:" + a user name or a numeric address. */
#define GUARD_KEY_MAX (DB_NAME_MAX + 8)

typedef struct guard_entry {
	char key[GUARD_KEY_MAX];
	unsigned fails;
	int64_t first_fail;
	int64_t last_fail;
	int64_t locked_until;
} guard_entry_t;

struct auth_guard {
	pthread_mutex_t lock;
	guard_entry_t *v;
	size_t n;
	/* hash slots */
	pthread_cond_t slot_free;
	unsigned slots, busy;
};

auth_guard_t *auth_guard_new(unsigned hash_slots)
{
	auth_guard_t *g = xcalloc(1, sizeof *g);
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->slot_free, &ca);
	pthread_condattr_destroy(&ca);
	g->slots = hash_slots ? hash_slots : AUTH_HASH_SLOTS;
	g->v = xcalloc(AUTH_THROTTLE_KEYS_MAX, sizeof *g->v);
	return g;
}

void auth_guard_free(auth_guard_t *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->slot_free);
	free(g->v);
	free(g);
}

static void key_make(char out[GUARD_KEY_MAX], char kind, const char *s)
{
	snprintf(out, GUARD_KEY_MAX, "%c:%s", kind, s);
}

static guard_entry_t *entry_find(auth_guard_t *g, const char *key)
{
	for (size_t i = 0; i < g->n; i++)
		if (!strcmp(g->v[i].key, key))
			return &g->v[i];
	return NULL;
}

static void entry_remove(auth_guard_t *g, guard_entry_t *e)
{
	*e = g->v[--g->n];
}

/* Makes room: drops keys whose failures are forgotten and that are not
 * locked; if none, the one that failed longest ago. */
static void entries_trim(auth_guard_t *g, int64_t now)
{
	int64_t window = AUTH_THROTTLE_WINDOW_S * UTIL_US_PER_SEC;
	for (size_t i = 0; i < g->n;) {
		if (now - g->v[i].last_fail > window && g->v[i].locked_until <= now)
			entry_remove(g, &g->v[i]);
		else
			i++;
	}
	if (g->n < AUTH_THROTTLE_KEYS_MAX)
		return;
	size_t old = 0;
	for (size_t i = 1; i < g->n; i++)
		if (g->v[i].last_fail < g->v[old].last_fail)
			old = i;
	entry_remove(g, &g->v[old]);
}

static int64_t key_retry(auth_guard_t *g, const char *key, int64_t now)
{
	guard_entry_t *e = entry_find(g, key);
	if (!e || e->locked_until <= now)
		return 0;
	return (e->locked_until - now + UTIL_US_PER_SEC - 1) / UTIL_US_PER_SEC;
}

int64_t auth_guard_retry_after(auth_guard_t *g, const char *user, const char *client)
{
	char k[GUARD_KEY_MAX];
	int64_t now = util_now(), r = 0;
	pthread_mutex_lock(&g->lock);
	if (user && *user) {
		key_make(k, 'u', user);
		r = key_retry(g, k, now);
	}
	if (client && *client) {
		key_make(k, 'a', client);
		int64_t a = key_retry(g, k, now);
		r = a > r ? a : r;
	}
	pthread_mutex_unlock(&g->lock);
	return r;
}

static void key_fail(auth_guard_t *g, const char *key, unsigned limit, int64_t now)
{
	guard_entry_t *e = entry_find(g, key);
	if (!e) {
		if (g->n == AUTH_THROTTLE_KEYS_MAX)
			entries_trim(g, now);
		e = &g->v[g->n++];
		memset(e, 0, sizeof *e);
		snprintf(e->key, sizeof e->key, "%s", key);
	}
	if (now - e->last_fail > AUTH_THROTTLE_WINDOW_S * UTIL_US_PER_SEC) {
		e->fails = 0;
		e->first_fail = now;
	}
	e->fails++;
	e->last_fail = now;
	if (e->fails < limit)
		return;
	int64_t lock = AUTH_THROTTLE_LOCK_S;
	for (unsigned i = limit; i < e->fails && lock < AUTH_THROTTLE_LOCK_MAX_S; i++)
		lock *= 2;
	if (lock > AUTH_THROTTLE_LOCK_MAX_S)
		lock = AUTH_THROTTLE_LOCK_MAX_S;
	e->locked_until = now + lock * UTIL_US_PER_SEC;
}

void auth_guard_failed(auth_guard_t *g, const char *user, const char *client)
{
	char k[GUARD_KEY_MAX];
	int64_t now = util_now();
	pthread_mutex_lock(&g->lock);
	if (user && *user) {
		key_make(k, 'u', user);
		key_fail(g, k, AUTH_THROTTLE_USER_FAILS, now);
	}
	if (client && *client) {
		key_make(k, 'a', client);
		key_fail(g, k, AUTH_THROTTLE_ADDR_FAILS, now);
	}
	pthread_mutex_unlock(&g->lock);
}

void auth_guard_succeeded(auth_guard_t *g, const char *user)
{
	char k[GUARD_KEY_MAX];
	key_make(k, 'u', user);
	pthread_mutex_lock(&g->lock);
	guard_entry_t *e = entry_find(g, k);
	if (e)
		entry_remove(g, e);
	pthread_mutex_unlock(&g->lock);
}

bool auth_guard_hash_enter(auth_guard_t *g, int64_t wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&g->lock);
	int rc = 0;
	while (g->busy >= g->slots && rc == 0)
		rc = pthread_cond_timedwait(&g->slot_free, &g->lock, &until);
	bool got = g->busy < g->slots;
	if (got)
		g->busy++;
	pthread_mutex_unlock(&g->lock);
	return got;
}

void auth_guard_hash_leave(auth_guard_t *g)
{
	pthread_mutex_lock(&g->lock);
	if (g->busy)
		g->busy--;
	pthread_cond_signal(&g->slot_free);
	pthread_mutex_unlock(&g->lock);
}
