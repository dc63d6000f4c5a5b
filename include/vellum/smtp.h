/* smtp.h — the SMTP ingress: listeners, sessions, streaming into the store.
 *
 * One event loop (epoll, one thread) serves every listener of the
 * configuration ([smtp] is the listener "default", more as [listener "NAME"]).
 * Each session is an explicit state machine (smtp_session.c); message data is
 * dot-unstuffed as it arrives (DATA) or taken as sent (BDAT, RFC 3030) and
 * streamed into a store append; "250" is sent only when the store's
 * completion (read from its queue's eventfd, in the same epoll set) says the
 * message is durable in every target archive.  Nothing in the message is
 * changed: no Received: header, no header removed.  STARTTLS (GnuTLS) and
 * AUTH PLAIN/LOGIN (users with the ingest role; checked on a worker thread)
 * are offered per listener; doc/smtp.md is the administrator's guide.
 *
 * The SMTP side never opens a file or sees a key: it talks to the store only
 * through store.h and asks the caller (serve) for the archives and their
 * address patterns through a callback (see smtp_opts_t).
 */
#ifndef VELLUM_SMTP_H
#define VELLUM_SMTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "vellum/app.h"
#include "vellum/ingest.h"

typedef enum {
	SMTP_OK = 0,
	SMTP_EADDR,   /* a listener's `listen` is not a numeric host:port */
	SMTP_EBIND,   /* socket/bind/listen failed (address in use, permission) */
	SMTP_EROUTES, /* the archive list could not be read at start */
	SMTP_ESYS,    /* epoll/eventfd setup failed */
	SMTP_ETLS,    /* a listener's tls_cert/tls_key cannot be loaded */
} smtp_status_t;

const char *smtp_strerror(smtp_status_t st);

/* Fills *out with the archives and their address patterns (the database's
 * view), using ingest_archive_list_add; the server frees it with
 * ingest_archive_list_free.  Returns 0 on success, non-zero on failure (the
 * callback logs why).  Runs on the SMTP thread: at start and whenever
 * app->archives_gen has changed before the next MAIL FROM. */
typedef int (*smtp_archives_fn)(void *arg, ingest_archive_list_t *out);

/* Options; the zero value is the documented default. */
typedef struct smtp_opts {
	/* Routing source.  NULL: the [archive "NAME"] sections of app->cfg
	 * (used by tests and by a server without a database). */
	smtp_archives_fn archives;
	void *archives_arg;
} smtp_opts_t;

typedef struct smtp_server smtp_server_t;

/* Binds every listener of app->cfg (port 0 picks a free port), reads the
 * archive list once and builds the routing tables.  Failures are logged with
 * the listener's name and address.  app must outlive the server; app->store
 * must be open read-write.  opts may be NULL (defaults).  The caller has
 * raised RLIMIT_NOFILE to fit max_connections (serve does).  On success *out
 * is owned by the caller (smtp_server_free). */
smtp_status_t smtp_server_new(app_t *app, const smtp_opts_t *opts, smtp_server_t **out);

/* Listeners in configuration order: how many, the name of listener i (owned
 * by the configuration), and its actual bound address as "127.0.0.1:2525" or
 * "[::1]:2525" into buf (n bytes; SMTP_ADDR_STRMAX is enough).  Returns false
 * if i is out of range. */
#define SMTP_ADDR_STRMAX 64
size_t smtp_server_listener_count(const smtp_server_t *s);
const char *smtp_server_listener_name(const smtp_server_t *s, size_t i);
bool smtp_server_addr(const smtp_server_t *s, size_t i, char *buf, size_t n);

/* Runs the event loop on the calling thread until smtp_server_stop() or
 * app->stopping.  On stop: listeners close, sessions waiting for the store get
 * their answer first, then every session gets "421" and is closed; returns
 * when no store completion is outstanding.  Returns SMTP_OK or SMTP_ESYS. */
smtp_status_t smtp_server_run(smtp_server_t *s);

/* Asks the loop to stop; safe from any thread (not from a signal handler:
 * set app->stopping there, which the loop polls every second). */
void smtp_server_stop(smtp_server_t *s);

/* Closes the listeners and frees.  Must not be called while smtp_server_run
 * is running.  NULL is fine. */
void smtp_server_free(smtp_server_t *s);

/* ---- feeds: what each listener delivered to each archive ----
 * For silent-feed alerts (the health check) and reports.  Safe from any
 * thread while the server runs.  Also exported in /metrics as
 * vellum_smtp_archive_last_received_seconds{listener,archive} and
 * vellum_smtp_last_received_seconds{listener}. */
typedef struct smtp_feed_info {
	char *listener, *archive;
	int64_t last_received; /* us since the epoch of the last message stored; 0 = none */
	uint64_t accepted;     /* messages stored (250) since start */
	uint64_t rejected;     /* messages refused after RCPT (4xx/5xx) since start */
} smtp_feed_info_t;
/* A snapshot of every listener x archive pair that has seen a message since
 * start; *out is the caller's (smtp_feed_info_free).  Returns the count. */
size_t smtp_server_feeds(smtp_server_t *s, smtp_feed_info_t **out);
void smtp_feed_info_free(smtp_feed_info_t *v, size_t n);
/* us since the epoch of the last message a listener stored, 0 if none since
 * start, -1 for an unknown listener. */
int64_t smtp_server_last_received(smtp_server_t *s, const char *listener);

#endif
