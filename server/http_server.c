/* http_server.c — libmicrohttpd glue: the [http] listener and control.sock.
 *
 * Does: bind the TCP address and the AF_UNIX control socket ourselves (so
 * port 0 works and the bound address is known), hand each to its own MHD
 * daemon, collect a request (headers, decoded query, body up to
 * API_BODY_MAX), turn it into an api_request_t, call api_handle, and turn the
 * api_response_t into an MHD response (JSON, plain, or streamed).  On the
 * control socket the caller is identified by SO_PEERCRED.
 * With [http] tls_cert and tls_key the TCP listener speaks HTTPS (GnuTLS
 * through MHD, TLS 1.2+); without them it refuses to listen off loopback
 * unless allow_plain_http.  Message submissions stream their body into
 * the API (api_upload_*) instead of buffering it; request framing that
 * could smuggle a second request (Transfer-Encoding with Content-Length)
 * is refused with 400.
 * Does not: route, authenticate sessions or build JSON (api_*.c).
 */
#include "config.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vellum/api.h"
#include "vellum/http.h"
#include "vellum/log.h"

/* Simultaneous connections per daemon (one thread each). */
#define HTTP_CONN_MAX 256
/* Idle seconds before a connection is closed. */
#define HTTP_IDLE_TIMEOUT 60
/* Memory MHD may use per connection for the request line and headers: a
 * browser's headers with cookies fit in a few KiB; beyond this MHD answers
 * 431 and closes, so a client cannot make us buffer headers without bound. */
#define HTTP_HEADER_MEM (32u * 1024)
/* Headers remembered per request (the API reads a handful). */
#define HTTP_HEADERS_MAX 64
/* Query parameters per request. */
#define HTTP_QUERY_MAX 64
/* Block size of streamed responses (raw downloads). */
#define HTTP_STREAM_BLOCK (64u * 1024)

struct http_server {
	app_t *app;
	struct MHD_Daemon *tcp;
	struct MHD_Daemon *control;
	char addr[128];
	char *sock_path;
	bool tls;               /* the TCP listener speaks HTTPS */
	buf_t cert, key;        /* PEM, kept for MHD's lifetime */
};

typedef enum { VIA_TCP, VIA_CONTROL } via_t;

struct listener {
	http_server_t *srv;
	via_t via;
};

/* Per-request state, kept in MHD's *con_cls between calls. */
struct req {
	buf_t body;
	bool too_big;
	bool handled;
	api_upload_t *upload;   /* a streamed body (message submission) */
	auth_principal_t *peer; /* control socket: the caller (owned) */
	char client[64];
};

const char *http_strerror(http_status_t st)
{
	switch (st) {
	case HTTP_OK: return "ok";
	case HTTP_EBIND: return "cannot bind";
	case HTTP_ESTART: return "cannot start the HTTP server";
	case HTTP_ECONFIG: return "bad [http] listen address";
	}
	return "unknown error";
}

/* ---- collecting a request ---- */

struct kvs {
	api_kv_t *v;
	size_t n, max;
};

static enum MHD_Result kv_collect(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
	(void)kind;
	struct kvs *k = cls;
	if (k->n == k->max)
		return MHD_NO;   /* stop iterating; the API never needs that many */
	k->v[k->n].key = key;
	k->v[k->n].value = value ? value : "";
	k->n++;
	return MHD_YES;
}

/* The control socket's caller: cli:<user> or NULL (then 403). */
static auth_principal_t *peer_principal(http_server_t *s, struct MHD_Connection *conn,
                                        char *client, size_t n)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (!ci || getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
		log_warn("http.peercred", "err=%s", strerror(errno));
		snprintf(client, n, "unix:unknown");
		return NULL;
	}
	snprintf(client, n, "unix:uid=%u", (unsigned)cred.uid);
	auth_principal_t *p = NULL;
	if (auth_principal_unix(s->app->cfg->storage.data_dir, cred.uid, &p) != AUTH_OK) {
		log_warn("http.control_denied", "uid=%u pid=%d", (unsigned)cred.uid, (int)cred.pid);
		return NULL;
	}
	return p;
}

/* ---- answering ---- */

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	api_stream_t *st = cls;
	long n = st->read(st->arg, (uint8_t *)buf, max);
	if (n < 0)
		return MHD_CONTENT_READER_END_WITH_ERROR;
	if (n == 0)
		return MHD_CONTENT_READER_END_OF_STREAM;
	return (ssize_t)n;
}

static void stream_free(void *cls)
{
	api_stream_t *st = cls;
	if (st->close)
		st->close(st->arg);
	free(st);
}

/* Builds the MHD response from r; takes the stream out of r. */
static struct MHD_Response *mhd_response(api_response_t *r)
{
	struct MHD_Response *m;
	const char *ctype = r->content_type ? r->content_type : "application/json";
	if (r->stream.read) {
		api_stream_t *st = xmalloc(sizeof *st);
		*st = r->stream;
		memset(&r->stream, 0, sizeof r->stream);
		m = MHD_create_response_from_callback(st->size >= 0 ? (uint64_t)st->size
		                                                    : MHD_SIZE_UNKNOWN,
		                                      HTTP_STREAM_BLOCK, stream_read, st, stream_free);
		if (!m)
			stream_free(st);
	} else if (r->json) {
		size_t len = 0;
		char *text = api_response_json_text(r, &len);
		if (!text)
			return NULL;
		m = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
		if (!m)
			free(text);
	} else {
		m = MHD_create_response_from_buffer(r->body.len, r->body.data, MHD_RESPMEM_MUST_COPY);
	}
	if (!m)
		return NULL;
	MHD_add_response_header(m, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	bool nosniff = false, cache = false;
	for (size_t i = 0; i < r->nheaders; i++) {
		MHD_add_response_header(m, r->headers[i].key, r->headers[i].value);
		nosniff |= !strcasecmp(r->headers[i].key, "X-Content-Type-Options");
		cache |= !strcasecmp(r->headers[i].key, "Cache-Control");
	}
	if (!nosniff)
		MHD_add_response_header(m, "X-Content-Type-Options", "nosniff");
	if (!cache)
		MHD_add_response_header(m, "Cache-Control", "no-store");
	return m;
}

/* Fills req from the connection: headers, query, client, transport.  The
 * arrays hv/qv hold what req points to. */
static void request_build(struct listener *l, struct MHD_Connection *conn, const char *url,
                          const char *method, struct req *rq, api_kv_t *hv, api_kv_t *qv,
                          api_request_t *req)
{
	struct kvs headers = {hv, 0, HTTP_HEADERS_MAX}, query = {qv, 0, HTTP_QUERY_MAX};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, kv_collect, &headers);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, kv_collect, &query);
	*req = (api_request_t){
		.method = method,
		.path = url,
		.query = qv,
		.nquery = query.n,
		.headers = hv,
		.nheaders = headers.n,
		.body = rq->body.data,
		.body_len = rq->body.len,
		.body_too_big = rq->too_big,
		.client = rq->client,
		.transport = l->via == VIA_TCP ? API_VIA_TCP : API_VIA_CONTROL,
		.tls = l->via == VIA_TCP && l->srv->tls,
	};
	if (l->via == VIA_TCP) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		int port = 0;
		if (ci && ci->client_addr) {
			req->client_sa = ci->client_addr;
			util_sockaddr_format(ci->client_addr, rq->client, sizeof rq->client, &port);
		}
	}
}

static void control_refused(api_response_t *resp)
{
	resp->status = 403;
	resp->json = json_pack("{s:{s:s, s:s}, s:i}", "error", "code", "forbidden", "message",
	                       "only root or the data dir's owner may use the control socket",
	                       "format_version", API_FORMAT_VERSION);
}

static enum MHD_Result queue(struct MHD_Connection *conn, const char *method, api_response_t *resp,
                             const char *client)
{
	char qm[64], qc[96];
	log_info("http.request", "method=%s route=%s status=%d client=%s",
	         log_q(qm, sizeof qm, method), resp->route ? resp->route : "-", resp->status,
	         log_q(qc, sizeof qc, client));
	struct MHD_Response *m = mhd_response(resp);
	enum MHD_Result rc = MHD_NO;
	if (m) {
		rc = MHD_queue_response(conn, (unsigned)resp->status, m);
		MHD_destroy_response(m);
	}
	api_response_clear(resp);
	return rc;
}

/* A plain error answered by the transport itself (malformed framing). */
static enum MHD_Result refuse(struct MHD_Connection *conn, const char *method, int status,
                              const char *code, const char *msg, const char *client)
{
	api_response_t resp;
	api_response_init(&resp);
	resp.status = status;
	resp.route = "other";
	resp.json = json_pack("{s:{s:s, s:s}, s:i}", "error", "code", code, "message", msg,
	                      "format_version", API_FORMAT_VERSION);
	return queue(conn, method, &resp, client);
}

static enum MHD_Result answer(struct listener *l, struct MHD_Connection *conn, const char *url,
                              const char *method, struct req *rq)
{
	api_kv_t hv[HTTP_HEADERS_MAX], qv[HTTP_QUERY_MAX];
	api_request_t req;
	request_build(l, conn, url, method, rq, hv, qv, &req);
	api_response_t resp;
	api_response_init(&resp);
	if (rq->upload) {
		req.body = NULL;
		req.body_len = 0;
		api_upload_t *u = rq->upload;
		rq->upload = NULL;
		api_upload_end(u, &req, &resp);
	} else if (l->via == VIA_TCP) {
		api_handle(l->srv->app, NULL, &req, &resp);
	} else if (rq->peer) {
		api_handle(l->srv->app, rq->peer, &req, &resp);
	} else {
		control_refused(&resp);
	}
	return queue(conn, method, &resp, rq->client);
}

/* Request framing the server will not guess about (RFC 9112 §6.1: a
 * message with both Transfer-Encoding and Content-Length is a smuggling
 * attempt or a broken client; §6.3: a Transfer-Encoding other than a
 * final "chunked" cannot be delimited).  NULL when the framing is fine. */
static const char *framing_problem(struct MHD_Connection *conn)
{
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_TRANSFER_ENCODING);
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (te && cl)
		return "both Transfer-Encoding and Content-Length";
	if (te && strcasecmp(te, "chunked"))
		return "unsupported Transfer-Encoding (only chunked)";
	if (cl && (!*cl || strspn(cl, "0123456789") != strlen(cl)))
		return "malformed Content-Length";
	return NULL;
}

/* First call for a request: headers are in, no body yet. */
static enum MHD_Result on_headers(struct listener *l, struct MHD_Connection *conn,
                                  const char *url, const char *method, struct req *rq)
{
	http_server_t *s = l->srv;
	if (l->via == VIA_CONTROL)
		rq->peer = peer_principal(s, conn, rq->client, sizeof rq->client);
	const char *bad = framing_problem(conn);
	if (bad) {
		rq->handled = true;
		return refuse(conn, method, 400, "bad_request", bad, rq->client);
	}
	if (api_route_streams(method, url)) {
		api_kv_t hv[HTTP_HEADERS_MAX], qv[HTTP_QUERY_MAX];
		api_request_t req;
		request_build(l, conn, url, method, rq, hv, qv, &req);
		api_response_t resp;
		api_response_init(&resp);
		if (l->via == VIA_CONTROL && !rq->peer)
			control_refused(&resp);
		else
			rq->upload = api_upload_begin(s->app, rq->peer, &req, &resp);
		if (rq->upload) {
			api_response_clear(&resp);
			return MHD_YES;
		}
		/* Refused before the body: answer now; MHD closes the connection
		 * after it rather than reading a body nobody wants. */
		rq->handled = true;
		return queue(conn, method, &resp, rq->client);
	}
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX) {
		/* Refuse before reading a byte of it. */
		rq->too_big = true;
		rq->handled = true;
		return answer(l, conn, url, method, rq);
	}
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
	(void)version;
	struct listener *l = cls;
	struct req *rq = *con_cls;
	if (!rq) {
		rq = xcalloc(1, sizeof *rq);
		*con_cls = rq;
		return on_headers(l, conn, url, method, rq);
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (rq->handled)
			return MHD_YES;
		if (rq->upload) {
			api_upload_write(rq->upload, upload_data, n);   /* errors answered at the end */
			return MHD_YES;
		}
		if (rq->too_big || rq->body.len + n > API_BODY_MAX) {
			rq->too_big = true;   /* chunked bodies: drop, answer 413 at the end */
			buf_free(&rq->body);
			return MHD_YES;
		}
		buf_append(&rq->body, upload_data, n);
		return MHD_YES;
	}
	if (rq->handled)
		return MHD_YES;
	rq->handled = true;
	return answer(l, conn, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	struct req *rq = *con_cls;
	if (rq) {
		/* A client that went away in the middle of a submission: the
		 * append is dropped, nothing is stored. */
		api_upload_abort(rq->upload);
		auth_principal_free(rq->peer);
		buf_free(&rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

static void mhd_log(void *cls, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512], q[LOG_Q_MAX];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = '\0';
	log_warn("http.mhd", "msg=%s", log_q(q, sizeof q, msg));
}

/* ---- sockets ---- */

static http_status_t bind_tcp(const char *listen_s, int *fd_out, char *addr, size_t n)
{
	struct sockaddr_storage ss;
	size_t sl;
	if (util_hostport_parse(listen_s, &ss, &sl) != UTIL_OK) {
		log_error("http.listen", "listen=%s err=\"not host:port\"", listen_s);
		return HTTP_ECONFIG;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd >= 0) {
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
		if (ss.ss_family == AF_INET6)
			setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	}
	if (fd < 0 || bind(fd, (struct sockaddr *)&ss, (socklen_t)sl) != 0 || listen(fd, 128) != 0) {
		log_error("http.bind", "listen=%s err=%s", listen_s, strerror(errno));
		if (fd >= 0)
			close(fd);
		return HTTP_EBIND;
	}
	socklen_t bl = sizeof ss;
	getsockname(fd, (struct sockaddr *)&ss, &bl);
	char host[INET6_ADDRSTRLEN + 1];
	int port = 0;
	util_sockaddr_format((struct sockaddr *)&ss, host, sizeof host, &port);
	snprintf(addr, n, ss.ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", host, port);
	*fd_out = fd;
	return HTTP_OK;
}

static http_status_t bind_unix(const char *path, int *fd_out)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof sa.sun_path) {
		log_error("http.control", "path=%s err=\"path too long for a unix socket\"", path);
		return HTTP_EBIND;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* A leftover from a server that died: we hold the data-dir lock, so no
	 * live server owns it. */
	unlink(path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	mode_t old = umask(077);
	int rc = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&sa, sizeof sa);
	umask(old);
	if (rc != 0 || listen(fd, 64) != 0) {
		log_error("http.control", "path=%s err=%s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return HTTP_EBIND;
	}
	*fd_out = fd;
	return HTTP_OK;
}

/* TLS versions offered over HTTPS: 1.2 and 1.3 (GnuTLS priority string;
 * NORMAL's ciphers, no SSL 3 / TLS 1.0 / 1.1). */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* Largest certificate chain or key file read (PEM). */
#define HTTP_PEM_MAX (1u << 20)

static struct MHD_Daemon *daemon_start(struct listener *l, int fd, bool v6)
{
	http_server_t *s = l->srv;
	bool tls = l->via == VIA_TCP && s->tls;
	/* MHD_USE_POLL: select() cannot take descriptors past FD_SETSIZE, and
	 * the SMTP side holds 1000+ sockets (max_connections). */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0) |
	                 (tls ? MHD_USE_TLS : 0);
	struct MHD_OptionItem tls_opts[] = {
		{MHD_OPTION_HTTPS_MEM_CERT, 0, tls ? s->cert.data : NULL},
		{MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? s->key.data : NULL},
		{MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
		{MHD_OPTION_END, 0, NULL},
	};
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                        MHD_OPTION_LISTEN_SOCKET, fd,
	                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_MAX,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT,
	                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_HEADER_MEM,
	                        MHD_OPTION_ARRAY, tls ? tls_opts : &tls_opts[3],
	                        MHD_OPTION_END);
}

/* Loads [http] tls_cert / tls_key when both are set.  HTTP_ECONFIG (logged)
 * when only one is, or a file cannot be read. */
static http_status_t tls_load(http_server_t *s, const config_t *cfg)
{
	const char *cert = cfg->http.tls_cert, *key = cfg->http.tls_key;
	bool hc = cert && *cert, hk = key && *key;
	if (!hc && !hk)
		return HTTP_OK;
	if (hc != hk) {
		log_error("http.tls", "err=\"tls_cert and tls_key must be set together\"");
		return HTTP_ECONFIG;
	}
	const char *paths[] = {cert, key};
	buf_t *bufs[] = {&s->cert, &s->key};
	for (int i = 0; i < 2; i++) {
		util_status_t st = util_read_file(paths[i], HTTP_PEM_MAX, bufs[i]);
		if (st != UTIL_OK) {
			log_error("http.tls", "path=%s err=\"%s\"", paths[i],
			          st == UTIL_EIO || st == UTIL_ENOENT ? strerror(errno) : util_strerror(st));
			return HTTP_ECONFIG;
		}
		buf_append_byte(bufs[i], 0);   /* MHD wants NUL-terminated PEM */
	}
	s->tls = true;
	return HTTP_OK;
}

/* Sessions over plain HTTP are only for loopback (DESIGN.md §4): a TCP
 * listener elsewhere needs TLS or allow_plain_http = yes. */
static http_status_t plain_http_check(const http_server_t *s, const config_t *cfg)
{
	if (s->tls || cfg->http.allow_plain_http)
		return HTTP_OK;
	struct sockaddr_storage ss;
	size_t sl;
	if (util_hostport_parse(cfg->http.listen, &ss, &sl) != UTIL_OK)
		return HTTP_OK;   /* bind_tcp reports it */
	if (util_sockaddr_is_loopback((struct sockaddr *)&ss))
		return HTTP_OK;
	log_error("http.listen", "listen=%s err=\"plain HTTP off loopback: set [http] tls_cert and "
	          "tls_key, or allow_plain_http = yes behind a TLS proxy\"", cfg->http.listen);
	return HTTP_ECONFIG;
}

/* The listeners live as long as the server: kept after the struct. */
struct http_server_full {
	http_server_t s;
	struct listener tcp, control;
};

http_status_t http_server_new(app_t *app, http_server_t **out)
{
	*out = NULL;
	struct http_server_full *f = xcalloc(1, sizeof *f);
	http_server_t *s = &f->s;
	s->app = app;
	f->tcp = (struct listener){s, VIA_TCP};
	f->control = (struct listener){s, VIA_CONTROL};
	int tfd = -1, cfd = -1;
	http_status_t st = tls_load(s, app->cfg);
	if (st == HTTP_OK)
		st = plain_http_check(s, app->cfg);
	if (st == HTTP_OK)
		st = bind_tcp(app->cfg->http.listen, &tfd, s->addr, sizeof s->addr);
	if (st == HTTP_OK) {
		s->tcp = daemon_start(&f->tcp, tfd, s->addr[0] == '[');
		if (!s->tcp) {
			log_error("http.start", "listen=%s err=\"MHD_start_daemon failed\"", s->addr);
			close(tfd);
			st = HTTP_ESTART;
		}
	}
	if (st == HTTP_OK) {
		s->sock_path = app_socket_path(app->cfg);
		st = bind_unix(s->sock_path, &cfd);
	}
	if (st == HTTP_OK) {
		s->control = daemon_start(&f->control, cfd, false);
		if (!s->control) {
			log_error("http.start", "path=%s err=\"MHD_start_daemon failed\"", s->sock_path);
			close(cfd);
			st = HTTP_ESTART;
		}
	}
	if (st != HTTP_OK) {
		http_server_free(s);
		return st;
	}
	log_info("http.listen", "addr=%s tls=%s control=%s", s->addr, s->tls ? "yes" : "no",
	         s->sock_path);
	*out = s;
	return HTTP_OK;
}

void http_server_addr(const http_server_t *s, char *out, size_t n)
{
	snprintf(out, n, "%s", s ? s->addr : "");
}

void http_server_free(http_server_t *s)
{
	if (!s)
		return;
	if (s->tcp)
		MHD_stop_daemon(s->tcp);
	if (s->control)
		MHD_stop_daemon(s->control);
	if (s->sock_path && s->control)
		unlink(s->sock_path);
	free(s->sock_path);
	if (s->key.data)
		sodium_memzero(s->key.data, s->key.len);
	buf_free(&s->cert);
	buf_free(&s->key);
	free((struct http_server_full *)s);
}
