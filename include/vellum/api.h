/* api.h — the JSON API (DESIGN.md §5), independent of the transport.
 *
 * A request is a method, a path, query parameters, the few headers the API
 * reads, and a body already read by the transport (bounded by API_BODY_MAX).
 * api_handle routes it, authenticates it (session cookie or bearer token)
 * unless the transport already knows the principal, checks
 * CSRF for browser sessions, runs the handler, and fills a response: a
 * status, headers, and either a JSON document (always carrying
 * format_version), a small plain body, or a stream (raw message download).
 *
 * The same handlers serve the TCP listener and the control socket
 * (http_server.c, through libmicrohttpd) and the CLI in-process when no
 * server runs (cli_client.c).  Nothing here knows about sockets.
 *
 * Errors are {"error": {"code": "...", "message": "..."}} with the status of
 * one table (api_core.c).
 */
#ifndef VELLUM_API_H
#define VELLUM_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "vellum/app.h"
#include "vellum/auth.h"
#include "vellum/util.h"

/* Version of the JSON shapes; in every JSON response. */
#define API_FORMAT_VERSION 1
/* Largest request body the JSON routes accept: logins, users, grants are a
 * few hundred bytes; 1 MiB leaves room without letting a client make the
 * server buffer much. */
#define API_BODY_MAX (1u << 20)
/* Response headers a handler may add. */
#define API_HEADERS_MAX 8

typedef struct api_kv {
	const char *key;
	const char *value;
} api_kv_t;

typedef enum {
	API_VIA_TCP = 0,   /* the [http] listener: principal from cookie or token */
	API_VIA_CONTROL,   /* control socket: principal from SO_PEERCRED */
	API_VIA_DIRECT,    /* in-process CLI */
} api_transport_t;

typedef struct api_request {
	const char *method;              /* "GET", ... */
	const char *path;                /* percent-decoded, without the query */
	const api_kv_t *query;           /* decoded parameters, in order */
	size_t nquery;
	const api_kv_t *headers;         /* names case-insensitive */
	size_t nheaders;
	const uint8_t *body;             /* not NUL-terminated */
	size_t body_len;
	bool body_too_big;               /* the transport dropped a body > API_BODY_MAX */
	const char *client;              /* "127.0.0.1", "unix:uid=0", "local:uid=0" */
	const struct sockaddr *client_sa;/* TCP peer, or NULL */
	bool tls;
	api_transport_t transport;
} api_request_t;

/* Value of the first query parameter / header with this name, or NULL. */
const char *api_request_query(const api_request_t *r, const char *key);
const char *api_request_header(const api_request_t *r, const char *name);

/* A streamed body: read returns bytes placed in buf (0 at the end, -1 on an
 * error after which the transport aborts the response); close releases arg. */
typedef struct api_stream {
	long (*read)(void *arg, uint8_t *buf, size_t cap);
	void (*close)(void *arg);
	void *arg;
	int64_t size;                    /* -1 when unknown */
} api_stream_t;

typedef struct api_response {
	int status;
	json_t *json;                    /* owned; the body when set */
	buf_t body;                      /* otherwise this, with content_type */
	char *content_type;              /* owned; NULL = application/json */
	struct {
		char *key, *value;       /* owned */
	} headers[API_HEADERS_MAX];
	size_t nheaders;
	api_stream_t stream;             /* when stream.read is set; owned */
	const char *route;               /* static route pattern, for metrics/logs */
} api_response_t;

void api_response_init(api_response_t *r);
/* Frees everything, closes a stream that was not consumed. */
void api_response_clear(api_response_t *r);
void api_response_header(api_response_t *r, const char *key, const char *value);
/* The JSON body serialised (compact, UTF-8), caller frees; NULL if none. */
char *api_response_json_text(const api_response_t *r, size_t *len);

/* Handles one request.  `principal` is set by transports that authenticate
 * themselves (control socket, CLI) and borrowed; NULL means "authenticate
 * from the request".  Never fails: errors become error responses.  A
 * request to a streaming route (api_route_streams) with its whole body in
 * req->body works too (the body is fed through api_upload_*). */
void api_handle(app_t *app, const auth_principal_t *principal, const api_request_t *req,
                api_response_t *resp);

/* ---- streamed request bodies (message submission) ----
 * A raw message may be as large as the SMTP limit (max_message_size), far
 * beyond API_BODY_MAX; it is streamed into the store as it arrives, never
 * held whole.  The transport asks api_route_streams with the request line
 * alone; if true, it calls api_upload_begin once the headers are in (req
 * without a body), then api_upload_write per piece of body, then
 * api_upload_end for the answer — or api_upload_abort if the client went
 * away. */
typedef struct api_upload api_upload_t;

bool api_route_streams(const char *method, const char *path);
/* Authenticates and checks the request like api_handle would.  Returns the
 * upload (owned by the caller until end/abort), or NULL with the refusal in
 * resp. */
api_upload_t *api_upload_begin(app_t *app, const auth_principal_t *principal,
                               const api_request_t *req, api_response_t *resp);
/* False when the upload failed (too large, store refused); keep feeding or
 * not — api_upload_end answers the error either way. */
bool api_upload_write(api_upload_t *u, const void *p, size_t n);
/* Commits and answers into resp; frees u.  req is the same request
 * (headers, query), again without its body. */
void api_upload_end(api_upload_t *u, const api_request_t *req, api_response_t *resp);
void api_upload_abort(api_upload_t *u);

/* Registers the API's metrics in app->metrics (sessions gauge, logins by
 * outcome, search latency) so they show before the first event.  Once per
 * app (app_open does it). */
void api_metrics_register(app_t *app);

/* ---- the route table (for the OpenAPI check) ---- */
size_t api_route_count(void);
/* Row i: its method, its pattern ("/api/v1/messages/{id}"), and whether it
 * needs no credentials.  False past the end. */
bool api_route_at(size_t i, const char **method, const char **pattern, bool *public_route);

#endif
