/* smtp_server.c — listeners and the event loop of the SMTP ingress.
 *
 * Does: bind every configured listener, run one epoll loop (level-triggered)
 * over the listening sockets, the sessions, the store's completion queue and
 * a wake-up eventfd and the AUTH worker's eventfd; load each listener's TLS
 * credentials; apply connection policy at accept (allow/deny networks,
 * max_connections, max_per_client); drive timers once a second; keep the
 * routing tables current with app->archives_gen; count per listener and
 * archive (accepted, rejected by reply code, last message received); shut
 * down in order (answers owed by the store and the AUTH worker first, then
 * 421).  Does not: speak SMTP (smtp_session.c) or touch files (the store
 * does).
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp_private.h"
#include "vellum/log.h"

/* Listen backlog: bursts of journal connections wait in the kernel. */
#define SMTP_BACKLOG 1024
/* Epoll events taken per wait. */
#define SMTP_EVENTS_MAX 256
/* Buckets of the per-client table (chained; sized for ~1000 sessions). */
#define SMTP_CLIENT_BUCKETS 1024
/* Seconds between attempts to re-read the archive list after a failure. */
#define SMTP_ROUTES_RETRY_US (1 * UTIL_US_PER_SEC)

struct smtp_client {
	smtp_client_t *next;
	size_t listener;
	int family;
	uint8_t addr[16];
	unsigned count;
};

const char *smtp_strerror(smtp_status_t st)
{
	switch (st) {
	case SMTP_OK: return "ok";
	case SMTP_EADDR: return "invalid listen address";
	case SMTP_EBIND: return "cannot listen";
	case SMTP_EROUTES: return "cannot read the archive list";
	case SMTP_ESYS: return "event loop setup failed";
	case SMTP_ETLS: return "cannot load the TLS certificate or key";
	}
	return "unknown error";
}

/* ---- per-client counts (max_per_client) ---- */

static void client_key(const struct sockaddr *sa, int *family, uint8_t addr[16])
{
	memset(addr, 0, 16);
	*family = sa->sa_family;
	if (sa->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
		if (IN6_IS_ADDR_V4MAPPED(a)) {
			*family = AF_INET;
			memcpy(addr, a->s6_addr + 12, 4);
		} else {
			memcpy(addr, a, 16);
		}
	}
}

static size_t client_hash(size_t listener, int family, const uint8_t addr[16])
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)listener ^ ((uint64_t)family << 32);
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 1099511628211ull;
	return (size_t)(h % SMTP_CLIENT_BUCKETS);
}

static smtp_client_t *client_get(smtp_server_t *srv, size_t listener, const struct sockaddr *sa)
{
	int family;
	uint8_t addr[16];
	client_key(sa, &family, addr);
	size_t b = client_hash(listener, family, addr);
	for (smtp_client_t *c = srv->clients[b]; c; c = c->next)
		if (c->listener == listener && c->family == family && !memcmp(c->addr, addr, 16))
			return c;
	smtp_client_t *c = xcalloc(1, sizeof *c);
	c->listener = listener;
	c->family = family;
	memcpy(c->addr, addr, 16);
	c->next = srv->clients[b];
	srv->clients[b] = c;
	return c;
}

static void client_put(smtp_server_t *srv, smtp_client_t *c)
{
	if (--c->count > 0)
		return;
	size_t b = client_hash(c->listener, c->family, c->addr);
	for (smtp_client_t **p = &srv->clients[b]; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			free(c);
			return;
		}
	}
}

/* ---- routing tables ---- */

static int routes_from_config(void *arg, ingest_archive_list_t *out)
{
	const config_t *cfg = arg;
	for (size_t i = 0; i < cfg->narchives; i++)
		ingest_archive_list_add(out, cfg->archives[i].name,
		                        (const char *const *)cfg->archives[i].addresses,
		                        cfg->archives[i].naddresses);
	return 0;
}

/* Re-reads the archive list and rebuilds every listener's table.  On failure
 * the old tables stay in force. */
static bool routes_refresh(smtp_server_t *srv)
{
	uint64_t gen = atomic_load(&srv->app->archives_gen);
	ingest_archive_list_t list = {0};
	smtp_archives_fn fn = srv->opts.archives ? srv->opts.archives : routes_from_config;
	void *arg = srv->opts.archives ? srv->opts.archives_arg : srv->app->cfg;
	if (fn(arg, &list) != 0) {
		ingest_archive_list_free(&list);
		log_error("smtp.routes", "generation=%llu err=%s", (unsigned long long)gen,
		          ingest_strerror(INGEST_ESOURCE));
		return false;
	}
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		ingest_routes_free(l->routes);
		l->routes = ingest_routes_new(list.v, list.n, (const char *const *)l->cfg->archives,
		                              l->cfg->narchives, NULL);
		if (ingest_routes_count(l->routes) == 0)
			log_warn("smtp.routes", "listener=%s archives=0 every recipient is refused",
			         l->cfg->name);
	}
	ingest_archive_list_free(&list);
	srv->routes_gen = gen;
	log_info("smtp.routes", "generation=%llu archives=%zu", (unsigned long long)gen,
	         srv->nlisteners ? ingest_routes_count(srv->listeners[0].routes) : 0);
	return true;
}

const ingest_routes_t *smtp_server_routes(smtp_server_t *srv, smtp_listener_t *l)
{
	if (atomic_load(&srv->app->archives_gen) != srv->routes_gen) {
		int64_t now = util_monotonic_us();
		if (now >= srv->routes_retry_at && !routes_refresh(srv))
			srv->routes_retry_at = now + SMTP_ROUTES_RETRY_US;
	}
	return l->routes;
}

/* ---- metrics ---- */

void smtp_server_count_reply(smtp_listener_t *l, smtp_reply_id_t id, smtp_count_t what)
{
	static const char *const names[SMTP_COUNT__N] = {
	    "vellum_smtp_messages_total",
	    "vellum_smtp_envelope_refused_total",
	    "vellum_smtp_connections_refused_total",
	};
	static const char *const helps[SMTP_COUNT__N] = {
	    "Messages by listener and final reply code",
	    "MAIL and RCPT commands refused, by listener and reply code",
	    "Connections refused at accept, by listener and reply code",
	};
	if ((unsigned)id >= SMTP_R__COUNT || (unsigned)what >= SMTP_COUNT__N)
		return;
	metric_t **slot = &l->m_replies[what][id];
	if (!*slot) {
		char code[8];
		snprintf(code, sizeof code, "%u", smtp_reply_get(id)->code);
		const char *labels[] = {"listener", l->cfg->name, "code", code, NULL};
		*slot = metrics_counter(l->metrics, names[what], helps[what], labels);
	}
	metric_inc(*slot);
}

/* The feed of archive on listener l, created on first use. */
static smtp_feed_t *feed_get(smtp_server_t *srv, smtp_listener_t *l, const char *archive)
{
	smtp_feed_t **p = &l->feeds;
	for (; *p; p = &(*p)->next)
		if (!strcmp((*p)->archive, archive))
			return *p;
	smtp_feed_t *f = xcalloc(1, sizeof *f);
	f->archive = xstrdup(archive);
	const char *labels[] = {"listener", l->cfg->name, "archive", archive, NULL};
	f->m_last =
	    metrics_gauge(l->metrics, "vellum_smtp_archive_last_received_seconds",
	                  "When a listener last stored a message for an archive (Unix time; "
	                  "for silent-feed alerts)",
	                  labels);
	pthread_mutex_lock(&srv->feeds_lock);
	*p = f;
	pthread_mutex_unlock(&srv->feeds_lock);
	return f;
}

void smtp_server_count_archive(smtp_listener_t *l, const char *archive, smtp_reply_id_t id)
{
	if ((unsigned)id >= SMTP_R__COUNT)
		return;
	smtp_server_t *srv = l->srv;
	smtp_feed_t *f = feed_get(srv, l, archive);
	metric_t **slot = &f->m_by_reply[id];
	if (!*slot) {
		char code[8];
		snprintf(code, sizeof code, "%u", smtp_reply_get(id)->code);
		const char *labels[] = {"listener", l->cfg->name, "archive", archive,
		                        "code",     code,         NULL};
		*slot = metrics_counter(l->metrics, "vellum_smtp_archive_messages_total",
		                        "Messages by listener, archive and final reply code (250: "
		                        "accepted; 4xx/5xx: rejected)",
		                        labels);
	}
	metric_inc(*slot);
	if (smtp_reply_get(id)->code != 250) {
		atomic_fetch_add(&f->rejected, 1);
		return;
	}
	int64_t now = util_now();
	atomic_fetch_add(&f->accepted, 1);
	atomic_store(&f->last_received, now);
	atomic_store(&l->last_received, now);
	metric_set(f->m_last, (double)now / 1e6);
	metric_set(l->m_last, (double)now / 1e6);
}

size_t smtp_server_feeds(smtp_server_t *srv, smtp_feed_info_t **out)
{
	size_t n = 0, cap = 0;
	smtp_feed_info_t *v = NULL;
	pthread_mutex_lock(&srv->feeds_lock);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		for (smtp_feed_t *f = l->feeds; f; f = f->next) {
			if (n == cap) {
				cap = cap ? cap * 2 : 8;
				v = xrealloc(v, cap * sizeof *v);
			}
			v[n].listener = xstrdup(l->cfg->name);
			v[n].archive = xstrdup(f->archive);
			v[n].last_received = atomic_load(&f->last_received);
			v[n].accepted = atomic_load(&f->accepted);
			v[n].rejected = atomic_load(&f->rejected);
			n++;
		}
	}
	pthread_mutex_unlock(&srv->feeds_lock);
	*out = v;
	return n;
}

void smtp_feed_info_free(smtp_feed_info_t *v, size_t n)
{
	for (size_t i = 0; v && i < n; i++) {
		free(v[i].listener);
		free(v[i].archive);
	}
	free(v);
}

int64_t smtp_server_last_received(smtp_server_t *srv, const char *listener)
{
	for (size_t i = 0; i < srv->nlisteners; i++)
		if (!strcmp(srv->listeners[i].cfg->name, listener))
			return atomic_load(&srv->listeners[i].last_received);
	return -1;
}

/* ---- listeners ---- */

static smtp_status_t listener_bind(smtp_listener_t *l)
{
	struct sockaddr_storage ss;
	size_t len;
	if (!l->cfg->listen || util_hostport_parse(l->cfg->listen, &ss, &len) != UTIL_OK) {
		log_error("smtp.listen", "listener=%s listen=%s err=invalid address", l->cfg->name,
		          l->cfg->listen ? l->cfg->listen : "");
		return SMTP_EADDR;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
	    bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0 || listen(fd, SMTP_BACKLOG) < 0) {
		int e = errno;
		log_error("smtp.listen", "listener=%s listen=%s err=%s", l->cfg->name,
		          l->cfg->listen, strerror(e));
		if (fd >= 0)
			close(fd);
		return SMTP_EBIND;
	}
	l->addrlen = sizeof l->addr;
	if (getsockname(fd, (struct sockaddr *)&l->addr, &l->addrlen) < 0) {
		log_error("smtp.listen", "listener=%s op=getsockname err=%s", l->cfg->name,
		          strerror(errno));
		close(fd);
		return SMTP_EBIND;
	}
	l->fd = fd;
	return SMTP_OK;
}

static bool epoll_add(int epfd, int fd, uint32_t events, void *ptr)
{
	struct epoll_event ev = {.events = events, .data.ptr = ptr};
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		log_error("smtp.epoll", "op=add fd=%d err=%s", fd, strerror(errno));
		return false;
	}
	return true;
}

static smtp_status_t server_setup(smtp_server_t *srv)
{
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (srv->epfd < 0 || srv->wakefd < 0) {
		log_error("smtp.epoll", "op=create err=%s", strerror(errno));
		return SMTP_ESYS;
	}
	srv->queue = store_queue_new();
	if (!srv->queue || store_queue_fd(srv->queue) < 0) {
		log_error("smtp.queue", "err=cannot create the store completion queue");
		return SMTP_ESYS;
	}
	srv->wake_kind = SMTP_EV_WAKE;
	srv->queue_kind = SMTP_EV_QUEUE;
	srv->auth_kind = SMTP_EV_AUTH;
	if (!epoll_add(srv->epfd, srv->wakefd, EPOLLIN, &srv->wake_kind) ||
	    !epoll_add(srv->epfd, store_queue_fd(srv->queue), EPOLLIN, &srv->queue_kind))
		return SMTP_ESYS;
	/* AUTH needs the users: without a database (tests of the protocol
	 * alone) it is not offered. */
	if (srv->app->db) {
		srv->auth = smtp_auth_new(srv->app);
		if (!srv->auth ||
		    !epoll_add(srv->epfd, smtp_auth_fd(srv->auth), EPOLLIN, &srv->auth_kind))
			return SMTP_ESYS;
	}
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		const config_listener_t *cfg = l->cfg;
		if (cfg->tls_cert && cfg->tls_key) {
			l->tls = smtp_tls_new(cfg->name, cfg->tls_cert, cfg->tls_key,
			                      cfg->tls_min_version);
			if (!l->tls)
				return SMTP_ETLS;
		}
		if (cfg->auth_required && !srv->auth)
			log_warn("smtp.auth",
			         "listener=%s auth=required but no user database: "
			         "every transaction is refused",
			         cfg->name);
		else if (cfg->auth_required && !l->tls && !cfg->auth_plain_on_loopback)
			log_warn("smtp.auth",
			         "listener=%s auth=required but AUTH needs TLS "
			         "(tls_cert) or auth_plain_on_loopback",
			         cfg->name);
		smtp_status_t st = listener_bind(l);
		if (st != SMTP_OK)
			return st;
		if (!epoll_add(srv->epfd, l->fd, EPOLLIN, l))
			return SMTP_ESYS;
		char a[SMTP_ADDR_STRMAX];
		smtp_server_addr(srv, i, a, sizeof a);
		log_info("smtp.listen", "listener=%s addr=%s", l->cfg->name, a);
	}
	return SMTP_OK;
}

smtp_status_t smtp_server_new(app_t *app, const smtp_opts_t *opts, smtp_server_t **out)
{
	*out = NULL;
	smtp_server_t *srv = xcalloc(1, sizeof *srv);
	srv->app = app;
	if (opts)
		srv->opts = *opts;
	srv->epfd = srv->wakefd = -1;
	pthread_mutex_init(&srv->feeds_lock, NULL);
	srv->clients = xcalloc(SMTP_CLIENT_BUCKETS, sizeof *srv->clients);
	srv->scratch = xmalloc(SMTP_INBUF_SIZE + SMTP_DATA_SLACK);
	srv->nlisteners = app->cfg->nlisteners;
	srv->listeners = xcalloc(srv->nlisteners ? srv->nlisteners : 1, sizeof *srv->listeners);
	srv->m_active = metrics_gauge(app->metrics, "vellum_smtp_sessions_active",
	                              "SMTP sessions open now", NULL);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		l->kind = SMTP_EV_LISTENER;
		l->index = i;
		l->srv = srv;
		l->cfg = &app->cfg->listeners[i];
		l->fd = -1;
		l->metrics = app->metrics;
		const char *labels[] = {"listener", l->cfg->name, NULL};
		l->m_sessions = metrics_counter(app->metrics, "vellum_smtp_sessions_total",
		                                "SMTP sessions accepted", labels);
		l->m_bytes = metrics_counter(app->metrics, "vellum_smtp_bytes_received_total",
		                             "Bytes received from SMTP clients", labels);
		l->m_commit = metrics_histogram(
		    app->metrics, "vellum_smtp_commit_seconds",
		    "Time from the end of a message's data to the store's durable answer", labels,
		    metrics_latency_buckets, metrics_latency_nbuckets);
		l->m_last =
		    metrics_gauge(app->metrics, "vellum_smtp_last_received_seconds",
		                  "When the listener last stored a message (Unix time)", labels);
		static const char *const auth_outcomes[3] = {"ok", "failed", "error"};
		for (int k = 0; k < 3; k++) {
			const char *al[] = {"listener", l->cfg->name, "outcome", auth_outcomes[k],
			                    NULL};
			l->m_auth[k] = metrics_counter(app->metrics, "vellum_smtp_auth_total",
			                               "SMTP AUTH attempts by outcome", al);
		}
		for (int k = 0; k < 2; k++) {
			const char *tl[] = {"listener", l->cfg->name, "outcome",
			                    k ? "failed" : "ok", NULL};
			l->m_tls[k] =
			    metrics_counter(app->metrics, "vellum_smtp_tls_handshakes_total",
			                    "STARTTLS handshakes by outcome", tl);
		}
	}
	smtp_status_t st = server_setup(srv);
	if (st == SMTP_OK && !routes_refresh(srv))
		st = SMTP_EROUTES;
	if (st != SMTP_OK) {
		smtp_server_free(srv);
		return st;
	}
	*out = srv;
	return SMTP_OK;
}

size_t smtp_server_listener_count(const smtp_server_t *s)
{
	return s->nlisteners;
}

const char *smtp_server_listener_name(const smtp_server_t *s, size_t i)
{
	return i < s->nlisteners ? s->listeners[i].cfg->name : NULL;
}

bool smtp_server_addr(const smtp_server_t *s, size_t i, char *buf, size_t n)
{
	if (i >= s->nlisteners)
		return false;
	const struct sockaddr *sa = (const struct sockaddr *)&s->listeners[i].addr;
	char a[SMTP_ADDR_STRMAX];
	int port = 0;
	util_sockaddr_format(sa, a, sizeof a, &port);
	if (sa->sa_family == AF_INET6)
		snprintf(buf, n, "[%s]:%d", a, port);
	else
		snprintf(buf, n, "%s:%d", a, port);
	return true;
}

/* ---- sessions ---- */

void smtp_server_watch(smtp_server_t *srv, smtp_session_t *s, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = s};
	int op;
	if (events == 0) {
		if (!s->watched)
			return;
		op = EPOLL_CTL_DEL;
		s->watched = false;
	} else if (!s->watched) {
		op = EPOLL_CTL_ADD;
		s->watched = true;
	} else if (events != s->events) {
		op = EPOLL_CTL_MOD;
	} else {
		return;
	}
	s->events = events;
	if (epoll_ctl(srv->epfd, op, s->io.fd, &ev) < 0) {
		/* Only a bug can get here (bad fd, ENOMEM): drop the client. */
		log_error("smtp.epoll", "op=%d session=%llu err=%s", op, (unsigned long long)s->id,
		          strerror(errno));
		s->dead = true;
	}
}

void smtp_server_again(smtp_server_t *srv, smtp_session_t *s)
{
	if (s->again || s->zombie)
		return;
	s->again = true;
	s->again_next = srv->again;
	srv->again = s;
}

static void again_remove(smtp_server_t *srv, smtp_session_t *s)
{
	for (smtp_session_t **p = &srv->again; *p; p = &(*p)->again_next) {
		if (*p == s) {
			*p = s->again_next;
			break;
		}
	}
	s->again = false;
	s->again_next = NULL;
}

/* Drives the sessions whose input waits inside TLS, once each. */
static void run_again(smtp_server_t *srv)
{
	smtp_session_t *list = srv->again;
	srv->again = NULL;
	while (list) {
		smtp_session_t *s = list;
		list = s->again_next;
		s->again = false;
		s->again_next = NULL;
		if (!s->zombie)
			smtp_session_on_io(s, 0);
	}
}

bool smtp_server_auth_submit(smtp_server_t *srv, smtp_auth_job_t *j)
{
	if (!srv->auth || !smtp_auth_submit(srv->auth, j))
		return false;
	srv->auth_pending++;
	return true;
}

static void drain_auth(smtp_server_t *srv)
{
	smtp_auth_job_t *j;
	while ((j = smtp_auth_pop(srv->auth)) != NULL) {
		srv->auth_pending--;
		smtp_session_on_auth(j->session, j);
	}
}

/* Sessions are unlinked and closed at once but freed only after the current
 * batch of epoll events, which may still name them. */
void smtp_server_session_free(smtp_server_t *srv, smtp_session_t *s)
{
	if (s->zombie)
		return;
	if (s->again)
		again_remove(srv, s);
	if (s->watched)
		smtp_server_watch(srv, s, 0);
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	srv->nsessions--;
	s->lst->nsessions--;
	if (s->client)
		client_put(srv, s->client);
	metric_set(srv->m_active, (double)srv->nsessions);
	log_info("smtp.close", "session=%llu client=%s", (unsigned long long)s->id, s->addr);
	smtp_io_close(&s->io);
	s->zombie = true;
	s->prev = NULL;
	s->next = srv->graveyard;
	srv->graveyard = s;
}

static void bury(smtp_server_t *srv)
{
	while (srv->graveyard) {
		smtp_session_t *s = srv->graveyard;
		srv->graveyard = s->next;
		smtp_session_free(s);
	}
}

/* A one-shot refusal for a client we will not even hold a session for. */
static void refuse_now(smtp_listener_t *l, int fd, smtp_reply_id_t id, const char *addr)
{
	buf_t b = {0};
	smtp_reply_format(&b, id, smtp_listener_hostname(l), NULL);
	ssize_t w = send(fd, b.data, b.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	(void)w; /* best effort: the client is being turned away */
	buf_free(&b);
	close(fd);
	log_info("smtp.refuse", "listener=%s client=%s reply=%s", l->cfg->name, addr,
	         smtp_reply_name(id));
	smtp_server_count_reply(l, id, SMTP_COUNT_CONNECTION);
}

static void accept_one(smtp_server_t *srv, smtp_listener_t *l, int fd, const struct sockaddr *peer)
{
	const config_listener_t *cfg = l->cfg;
	char addr[64];
	util_sockaddr_format(peer, addr, sizeof addr, NULL);
	if (l->nsessions >= cfg->max_connections) {
		refuse_now(l, fd, SMTP_R_TOO_MANY_CONN, addr);
		return;
	}
	smtp_client_t *c = client_get(srv, l->index, peer);
	if (c->count >= cfg->max_per_client) {
		refuse_now(l, fd, SMTP_R_TOO_MANY_PER_CLIENT, addr);
		return;
	}
	c->count++;
	smtp_reply_id_t refuse = SMTP_R_OK;
	bool allowed = cfg->n_allow_clients == 0 ||
	               util_cidr_match(cfg->allow_clients, cfg->n_allow_clients, peer);
	if (!allowed || util_cidr_match(cfg->deny_clients, cfg->n_deny_clients, peer)) {
		refuse = SMTP_R_DENIED;
		smtp_server_count_reply(l, refuse, SMTP_COUNT_CONNECTION);
	}
	smtp_session_t *s = smtp_session_new(srv, l, fd, peer, c, refuse);
	s->next = srv->sessions;
	if (s->next)
		s->next->prev = s;
	srv->sessions = s;
	srv->nsessions++;
	l->nsessions++;
	metric_inc(l->m_sessions);
	metric_set(srv->m_active, (double)srv->nsessions);
	smtp_session_on_io(s, EPOLLOUT); /* sends the greeting; may free s */
}

static void listener_accept(smtp_server_t *srv, smtp_listener_t *l)
{
	for (int i = 0; i < SMTP_ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t len = sizeof ss;
		int fd = accept4(l->fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				/* Out of descriptors: stop accepting until the next
				 * tick instead of spinning on a readable listener. */
				log_warn("smtp.accept", "listener=%s err=%s paused=1s",
				         l->cfg->name, strerror(errno));
				epoll_ctl(srv->epfd, EPOLL_CTL_DEL, l->fd, NULL);
				l->paused = true;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			           errno != ECONNABORTED && errno != EPROTO) {
				log_warn("smtp.accept", "listener=%s err=%s", l->cfg->name,
				         strerror(errno));
			}
			return;
		}
		accept_one(srv, l, fd, (struct sockaddr *)&ss);
	}
}

/* ---- the loop ---- */

static void drain_queue(smtp_server_t *srv)
{
	store_completion_t *c;
	while ((c = store_queue_pop(srv->queue)) != NULL)
		smtp_session_on_commit(c->cookie, c);
}

static void tick(smtp_server_t *srv, int64_t now)
{
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		if (l->paused && l->fd >= 0 && !srv->stopping)
			l->paused = !epoll_add(srv->epfd, l->fd, EPOLLIN, l);
	}
	smtp_session_t *next;
	for (smtp_session_t *s = srv->sessions; s; s = next) {
		next = s->next;
		smtp_session_tick(s, now);
	}
}

static void begin_shutdown(smtp_server_t *srv)
{
	srv->stopping = true;
	log_info("smtp.stop", "sessions=%zu pending=%zu", srv->nsessions, srv->pending);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		if (l->fd >= 0) {
			close(l->fd); /* closing removes it from the epoll set */
			l->fd = -1;
		}
	}
	smtp_session_t *next;
	for (smtp_session_t *s = srv->sessions; s; s = next) {
		next = s->next;
		smtp_session_shutdown(s);
	}
}

static void dispatch(smtp_server_t *srv, struct epoll_event *ev)
{
	smtp_ev_kind_t kind = *(smtp_ev_kind_t *)ev->data.ptr;
	switch (kind) {
	case SMTP_EV_LISTENER:
		if (!srv->stopping)
			listener_accept(srv, ev->data.ptr);
		break;
	case SMTP_EV_SESSION: {
		smtp_session_t *s = ev->data.ptr;
		if (!s->zombie)
			smtp_session_on_io(s, ev->events);
		break;
	}
	case SMTP_EV_QUEUE: drain_queue(srv); break;
	case SMTP_EV_AUTH: drain_auth(srv); break;
	case SMTP_EV_WAKE: {
		uint64_t v;
		ssize_t r = read(srv->wakefd, &v, sizeof v);
		(void)r; /* the flag in srv->stop is what counts */
		break;
	}
	}
}

smtp_status_t smtp_server_run(smtp_server_t *srv)
{
	struct epoll_event evs[SMTP_EVENTS_MAX];
	/* A name for top -H and the benchmark's per-thread CPU figures. */
	pthread_setname_np(pthread_self(), "vellum-smtp");
	int64_t last_tick = util_monotonic_us(), last_wait_log = last_tick;
	for (;;) {
		if (!srv->stopping && (atomic_load(&srv->stop) || atomic_load(&srv->app->stopping)))
			begin_shutdown(srv);
		bury(srv);
		if (srv->stopping && srv->nsessions == 0 && srv->pending == 0 &&
		    srv->auth_pending == 0)
			break;
		int timeout = srv->again ? 0 : srv->stopping ? 100 : 1000;
		int n = epoll_wait(srv->epfd, evs, SMTP_EVENTS_MAX, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("smtp.epoll", "op=wait err=%s", strerror(errno));
			return SMTP_ESYS;
		}
		for (int i = 0; i < n; i++)
			dispatch(srv, &evs[i]);
		run_again(srv);
		bury(srv);
		int64_t now = util_monotonic_us();
		if (now - last_tick >= UTIL_US_PER_SEC || srv->stopping) {
			tick(srv, now);
			bury(srv);
			last_tick = now;
		}
		if (srv->stopping && srv->pending && now - last_wait_log >= 10 * UTIL_US_PER_SEC) {
			log_warn("smtp.stop", "waiting for the store: pending=%zu", srv->pending);
			last_wait_log = now;
		}
	}
	log_info("smtp.stopped", "ok=1");
	return SMTP_OK;
}

void smtp_server_stop(smtp_server_t *srv)
{
	atomic_store(&srv->stop, 1);
	uint64_t one = 1;
	ssize_t w = write(srv->wakefd, &one, sizeof one);
	(void)w; /* a full counter still wakes the loop */
}

void smtp_server_free(smtp_server_t *srv)
{
	if (!srv)
		return;
	while (srv->sessions) {
		smtp_session_t *s = srv->sessions;
		if (s->state == SMTP_STATE_COMMIT || s->state == SMTP_STATE_AUTH_WAIT) {
			/* The store or the AUTH worker still holds it: leak rather
			 * than let an answer land in freed memory. */
			log_error("smtp.free", "session=%llu err=commit outstanding",
			          (unsigned long long)s->id);
			srv->sessions = s->next;
			continue;
		}
		smtp_server_session_free(srv, s);
	}
	bury(srv);
	smtp_auth_free(srv->auth); /* joins the worker; its jobs are finished */
	for (size_t i = 0; i < srv->nlisteners; i++) {
		smtp_listener_t *l = &srv->listeners[i];
		if (l->fd >= 0)
			close(l->fd);
		ingest_routes_free(l->routes);
		smtp_tls_free(l->tls);
		while (l->feeds) {
			smtp_feed_t *f = l->feeds;
			l->feeds = f->next;
			free(f->archive);
			free(f);
		}
	}
	pthread_mutex_destroy(&srv->feeds_lock);
	if (srv->pending == 0)
		store_queue_free(srv->queue);
	if (srv->epfd >= 0)
		close(srv->epfd);
	if (srv->wakefd >= 0)
		close(srv->wakefd);
	for (size_t b = 0; srv->clients && b < SMTP_CLIENT_BUCKETS; b++) {
		while (srv->clients[b]) {
			smtp_client_t *c = srv->clients[b];
			srv->clients[b] = c->next;
			free(c);
		}
	}
	free(srv->clients);
	free(srv->listeners);
	free(srv->scratch);
	free(srv);
}
