/* http.h — the HTTP server: the [http] listener and the control socket.
 *
 * Two libmicrohttpd daemons feed the same API (api.h):
 *  - the TCP listener of `[http] listen` (port 0 = ephemeral; the bound
 *    address is in http_server_addr for data_dir/run/ports), where callers
 *    authenticate with a session cookie (or, with issue 6, a bearer token);
 *  - the control socket data_dir/control.sock (AF_UNIX, 0600), where the
 *    caller is known by SO_PEERCRED: root or the data dir's owner act as
 *    cli:<unix user> with admin, auditor and legal on "*"; anyone else gets
 *    403.  The CLI talks to a running server through it.
 *
 * Threads: each daemon runs its own threads (one per connection); handlers
 * use the app's modules, which are thread-safe.
 */
#ifndef VELLUM_HTTP_H
#define VELLUM_HTTP_H

#include <stddef.h>

#include "vellum/app.h"

typedef enum {
	HTTP_OK = 0,
	HTTP_EBIND,      /* cannot bind/listen the TCP address or the control socket (logged) */
	HTTP_ESTART,     /* libmicrohttpd refused to start (logged) */
	HTTP_ECONFIG,    /* [http] listen does not parse */
} http_status_t;

const char *http_strerror(http_status_t st);

typedef struct http_server http_server_t;

/* Binds both sockets and starts serving app (borrowed; must outlive the
 * server).  On success *out is owned by the caller (http_server_free). */
http_status_t http_server_new(app_t *app, http_server_t **out);
/* The bound TCP address, "127.0.0.1:8025" or "[::1]:8025", into out. */
void http_server_addr(const http_server_t *s, char *out, size_t n);
/* Stops accepting, waits for running requests, removes the control socket.
 * NULL is fine. */
void http_server_free(http_server_t *s);

#endif
