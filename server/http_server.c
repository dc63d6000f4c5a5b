/* http_server.c — libmicrohttpd glue: the [http] listener and control.sock.
 *
 * Does: bind the TCP address and the AF_UNIX control socket ourselves (so
 * port 0 works and the bound address is known), hand each to its own MHD
 * daemon, collect a request (headers, decoded query, body up to
 * API_BODY_MAX), turn it into an api_request_t, call api_handle, and turn the
 * api_response_t into an MHD response (JSON, plain, or streamed).  On the
 * control socket the caller is identified by SO_PEERCRED.
 * Does not: route, authenticate sessions or build JSON (api_*.c), or TLS yet
 * (issue 6 adds MHD_USE_TLS with the [http] tls_cert/tls_key).
 */
#include "config.h"

#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
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

static enum MHD_Result answer(struct listener *l, struct MHD_Connection *conn, const char *url,
                              const char *method, struct req *rq)
{
	http_server_t *s = l->srv;
	api_kv_t hv[HTTP_HEADERS_MAX], qv[HTTP_QUERY_MAX];
	struct kvs headers = {hv, 0, HTTP_HEADERS_MAX}, query = {qv, 0, HTTP_QUERY_MAX};
	MHD_get_connection_values(conn, MHD_HEADER_KIND, kv_collect, &headers);
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, kv_collect, &query);
	char client[64] = "";
	api_request_t req = {
		.method = method,
		.path = url,
		.query = qv,
		.nquery = query.n,
		.headers = hv,
		.nheaders = headers.n,
		.body = rq->body.data,
		.body_len = rq->body.len,
		.body_too_big = rq->too_big,
		.client = client,
		.transport = l->via == VIA_TCP ? API_VIA_TCP : API_VIA_CONTROL,
	};
	auth_principal_t *p = NULL;
	api_response_t resp;
	api_response_init(&resp);
	if (l->via == VIA_TCP) {
		const union MHD_ConnectionInfo *ci =
			MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
		int port = 0;
		if (ci && ci->client_addr) {
			req.client_sa = ci->client_addr;
			util_sockaddr_format(ci->client_addr, client, sizeof client, &port);
		}
		api_handle(s->app, NULL, &req, &resp);
	} else if ((p = peer_principal(s, conn, client, sizeof client))) {
		api_handle(s->app, p, &req, &resp);
	} else {
		resp.status = 403;
		resp.json = json_pack("{s:{s:s, s:s}, s:i}", "error", "code", "forbidden", "message",
		                      "only root or the data dir's owner may use the control socket",
		                      "format_version", API_FORMAT_VERSION);
	}
	auth_principal_free(p);
	char qm[64], qc[96];
	log_info("http.request", "method=%s route=%s status=%d client=%s",
	         log_q(qm, sizeof qm, method), resp.route ? resp.route : "-", resp.status,
	         log_q(qc, sizeof qc, client));
	struct MHD_Response *m = mhd_response(&resp);
	enum MHD_Result rc = MHD_NO;
	if (m) {
		rc = MHD_queue_response(conn, (unsigned)resp.status, m);
		MHD_destroy_response(m);
	}
	api_response_clear(&resp);
	return rc;
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
		const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		                                             MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > API_BODY_MAX) {
			/* Refuse before reading a byte of it; MHD closes the
			 * connection after the answer since the body is unread. */
			rq->too_big = true;
			rq->handled = true;
			return answer(l, conn, url, method, rq);
		}
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (rq->handled)
			return MHD_YES;
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

static struct MHD_Daemon *daemon_start(struct listener *l, int fd, bool v6)
{
	/* MHD_USE_POLL: select() cannot take descriptors past FD_SETSIZE, and
	 * the SMTP side holds 1000+ sockets (max_connections). */
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
	                 MHD_USE_POLL | MHD_USE_ERROR_LOG | (v6 ? MHD_USE_IPv6 : 0);
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, l,
	                        MHD_OPTION_LISTEN_SOCKET, fd,
	                        MHD_OPTION_NOTIFY_COMPLETED, on_completed, l,
	                        MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_CONN_MAX,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_TIMEOUT,
	                        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)HTTP_HEADER_MEM,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                        MHD_OPTION_END);
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
	http_status_t st = bind_tcp(app->cfg->http.listen, &tfd, s->addr, sizeof s->addr);
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
	log_info("http.listen", "addr=%s control=%s", s->addr, s->sock_path);
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
	free((struct http_server_full *)s);
}
