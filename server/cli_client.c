/* cli_client.c — how sub-commands reach the API.
 *
 * Does: decide between the running server (it holds the data-dir lock: talk
 * HTTP/1.1 over data_dir/control.sock, where SO_PEERCRED identifies us) and
 * direct access (take the lock, app_open(APP_DIRECT), call api_handle
 * in-process as cli:<unix user>); either way the same handlers run and the
 * same audit records are written.  Includes the small HTTP/1.1 client:
 * one request per connection, Content-Length, chunked or read-to-close
 * bodies.  Also terminal helpers (safe printing, password prompts).
 * Does not: know any route's meaning (the cli_*.c commands do).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "cli_private.h"
#include "vellum/api.h"
#include "vellum/app.h"
#include "vellum/auth.h"
#include "vellum/log.h"

/* Response header block the client accepts (our server sends < 1 KiB). */
#define CLI_HEAD_MAX (64u * 1024)
/* A JSON answer kept in memory (a page of 10 000 audit entries is a few MiB). */
#define CLI_JSON_MAX (256u << 20)
/* Longest chunk-size line in a chunked body. */
#define CLI_CHUNK_LINE_MAX 256

struct cli_ctx {
	const char *what;
	char *sock_path;          /* remote */
	app_t *app;               /* direct */
	auth_principal_t *principal;
	char client[64];
};

bool cli_ctx_remote(const cli_ctx_t *c)
{
	return c->sock_path != NULL;
}

cli_ctx_t *cli_ctx_open(const char *config_path, const char *what)
{
	config_t *cfg;
	char *err;
	/* A command's output is its answer; the modules' routine info lines
	 * (recovery, migrations) are for the daemon's log.  Before any thread. */
	if (!getenv("VELLUM_LOG_LEVEL"))
		log_set_level(LOG_LEVEL_WARN);
	if (config_load(config_path, &cfg, &err) != CONFIG_OK) {
		cli_error("%s", err);
		free(err);
		return NULL;
	}
	cli_ctx_t *c = xcalloc(1, sizeof *c);
	c->what = what;
	app_status_t st = app_open(cfg, APP_DIRECT, &c->app);   /* takes cfg */
	if (st == APP_ELOCKED) {
		/* A server runs: go through it.  Reload (app_open freed cfg). */
		if (config_load(config_path, &cfg, &err) != CONFIG_OK) {
			cli_error("%s", err);
			free(err);
			free(c);
			return NULL;
		}
		c->sock_path = app_socket_path(cfg);
		config_free(cfg);
		return c;
	}
	if (st != APP_OK) {
		cli_error("%s: %s", what, app_strerror(st));
		free(c);
		return NULL;
	}
	uid_t uid = getuid();
	snprintf(c->client, sizeof c->client, "local:uid=%u", (unsigned)uid);
	if (auth_principal_unix(c->app->cfg->storage.data_dir, uid, &c->principal) != AUTH_OK) {
		cli_error("%s: only root or the owner of %s may use it", what,
		          c->app->cfg->storage.data_dir);
		cli_ctx_close(c);
		return NULL;
	}
	return c;
}

void cli_ctx_close(cli_ctx_t *c)
{
	if (!c)
		return;
	auth_principal_free(c->principal);
	app_close(c->app);
	free(c->sock_path);
	free(c);
}

/* ---- the in-process path ---- */

static bool direct_call(cli_ctx_t *c, const char *method, const char *path,
                        const char *const *query, const char *body, int fd, int *status,
                        json_t **out)
{
	api_kv_t kv[32];
	size_t n = 0;
	for (size_t i = 0; query && query[i] && n < 32; i += 2)
		if (query[i + 1])
			kv[n++] = (api_kv_t){query[i], query[i + 1]};
	api_kv_t hdr[] = {{"Content-Type", "application/json"}};
	api_request_t req = {
		.method = method,
		.path = path,
		.query = kv,
		.nquery = n,
		.headers = hdr,
		.nheaders = body ? 1 : 0,
		.body = (const uint8_t *)body,
		.body_len = body ? strlen(body) : 0,
		.client = c->client,
		.transport = API_VIA_DIRECT,
	};
	api_response_t r;
	api_response_init(&r);
	api_handle(c->app, c->principal, &req, &r);
	*status = r.status;
	bool ok = true;
	if (r.stream.read && fd >= 0 && r.status == 200) {
		uint8_t buf[65536];
		long got;
		while ((got = r.stream.read(r.stream.arg, buf, sizeof buf)) > 0)
			if (util_write_all(fd, buf, (size_t)got) != UTIL_OK) {
				cli_error("%s: write: %s", c->what, strerror(errno));
				ok = false;
				break;
			}
		if (got < 0) {
			cli_error("%s: reading the message failed its integrity check", c->what);
			ok = false;
		}
	}
	*out = r.json ? json_incref(r.json) : NULL;
	api_response_clear(&r);
	return ok;
}

/* ---- the control-socket path: a minimal HTTP/1.1 client ---- */

typedef struct rd {
	int fd;
	uint8_t buf[16384];
	size_t pos, len;
} rd_t;

static int rd_byte(rd_t *r)
{
	if (r->pos == r->len) {
		ssize_t n;
		do
			n = read(r->fd, r->buf, sizeof r->buf);
		while (n < 0 && errno == EINTR);
		if (n <= 0)
			return -1;
		r->pos = 0;
		r->len = (size_t)n;
	}
	return r->buf[r->pos++];
}

/* One line without CRLF into out (at most max-1 bytes); false on EOF/too long. */
static bool rd_line(rd_t *r, char *out, size_t max)
{
	size_t n = 0;
	for (;;) {
		int ch = rd_byte(r);
		if (ch < 0 || n + 1 >= max)
			return false;
		if (ch == '\n')
			break;
		out[n++] = (char)ch;
	}
	if (n && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	return true;
}

/* Where body bytes go: a buffer (JSON) or a file descriptor (raw). */
typedef struct sink {
	buf_t *b;
	int fd;
	bool overflow, write_failed;
} sink_t;

static void sink_put(sink_t *s, const uint8_t *p, size_t n)
{
	if (s->fd >= 0) {
		if (!s->write_failed && util_write_all(s->fd, p, n) != UTIL_OK)
			s->write_failed = true;
	} else if (s->b->len + n > CLI_JSON_MAX) {
		s->overflow = true;
	} else {
		buf_append(s->b, p, n);
	}
}

/* Copies n bytes (or to EOF when n is UINT64_MAX) to the sink. */
static bool rd_copy(rd_t *r, uint64_t n, sink_t *s)
{
	while (n) {
		if (r->pos == r->len) {
			int ch = rd_byte(r);
			if (ch < 0)
				return n == UINT64_MAX;
			r->pos--;
		}
		size_t take = r->len - r->pos;
		if (take > n)
			take = (size_t)n;
		sink_put(s, r->buf + r->pos, take);
		r->pos += take;
		if (n != UINT64_MAX)
			n -= take;
	}
	return true;
}

static bool rd_chunked(rd_t *r, sink_t *s)
{
	char line[CLI_CHUNK_LINE_MAX];
	for (;;) {
		if (!rd_line(r, line, sizeof line))
			return false;
		char *end;
		errno = 0;
		unsigned long long n = strtoull(line, &end, 16);
		if (errno || end == line || (*end && *end != ';'))
			return false;
		if (n == 0) {
			/* Trailers until the empty line. */
			while (rd_line(r, line, sizeof line) && *line)
				;
			return true;
		}
		if (!rd_copy(r, n, s) || !rd_line(r, line, sizeof line) || *line)
			return false;
	}
}

static void url_encode(buf_t *b, const char *s, bool keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		    strchr("-._~", *p) || (keep_slash && *p == '/')) {
			buf_append_byte(b, *p);
		} else {
			buf_append_byte(b, '%');
			buf_append_byte(b, (uint8_t)hex[*p >> 4]);
			buf_append_byte(b, (uint8_t)hex[*p & 15]);
		}
	}
}

static int sock_connect(cli_ctx_t *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	if (strlen(c->sock_path) >= sizeof sa.sun_path) {
		cli_error("%s: control socket path too long: %s", c->what, c->sock_path);
		return -1;
	}
	memcpy(sa.sun_path, c->sock_path, strlen(c->sock_path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		cli_error("%s: a server holds the data dir but its control socket %s does not "
		          "answer: %s",
		          c->what, c->sock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Sends everything; false with errno set when the server stopped reading
 * (which it may do after answering early: the caller still reads). */
static bool send_all(int fd, const void *p, size_t len)
{
	for (size_t off = 0; off < len;) {
		ssize_t n = send(fd, (const uint8_t *)p + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return false;
		}
		off += (size_t)n;
	}
	return true;
}

/* Sends the request; a JSON body (body, NUL-terminated) or a raw one
 * (raw/raw_len, message/rfc822). */
static bool send_request(cli_ctx_t *c, int fd, const char *method, const char *path,
                         const char *const *query, const char *body, const void *raw,
                         size_t raw_len)
{
	buf_t b = {0};
	buf_printf(&b, "%s ", method);
	url_encode(&b, path, true);
	char sep = '?';
	for (size_t i = 0; query && query[i]; i += 2) {
		if (!query[i + 1])
			continue;
		buf_append_byte(&b, (uint8_t)sep);
		sep = '&';
		url_encode(&b, query[i], false);
		buf_append_byte(&b, '=');
		url_encode(&b, query[i + 1], false);
	}
	buf_printf(&b, " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
	if (body)
		buf_printf(&b, "Content-Type: application/json\r\nContent-Length: %zu\r\n",
		           strlen(body));
	else if (raw)
		buf_printf(&b, "Content-Type: message/rfc822\r\nContent-Length: %zu\r\n", raw_len);
	buf_append_str(&b, "\r\n");
	if (body)
		buf_append_str(&b, body);
	bool ok = send_all(fd, b.data, b.len) && (!raw || send_all(fd, raw, raw_len));
	buf_free(&b);
	(void)c;
	return ok;
}

/* Reads the status line and headers; *length is UINT64_MAX when unknown. */
static bool read_head(rd_t *r, int *status, uint64_t *length, bool *chunked)
{
	char line[CLI_HEAD_MAX / 8];
	*length = UINT64_MAX;
	*chunked = false;
	if (!rd_line(r, line, sizeof line) || sscanf(line, "HTTP/1.%*d %d", status) != 1)
		return false;
	size_t total = 0;
	while (rd_line(r, line, sizeof line)) {
		if (!*line)
			return true;
		total += strlen(line);
		if (total > CLI_HEAD_MAX)
			return false;
		if (!strncasecmp(line, "Content-Length:", 15))
			*length = strtoull(line + 15, NULL, 10);
		else if (!strncasecmp(line, "Transfer-Encoding:", 18) && strcasestr(line, "chunked"))
			*chunked = true;
	}
	return false;
}

static bool remote_call(cli_ctx_t *c, const char *method, const char *path,
                        const char *const *query, const char *body, const void *raw,
                        size_t raw_len, int fd, int *status, json_t **out)
{
	int s = sock_connect(c);
	if (s < 0)
		return false;
	bool sent = send_request(c, s, method, path, query, body, raw, raw_len);
	int send_err = sent ? 0 : errno;
	rd_t *r = xcalloc(1, sizeof *r);
	r->fd = s;
	uint64_t length;
	bool chunked;
	/* A server that refused the request before its body (a submission to
	 * an archive that does not exist) answers and stops reading: the
	 * answer is what counts. */
	bool ok = read_head(r, status, &length, &chunked);
	if (!ok && !sent)
		cli_error("%s: sending to the server: %s", c->what, strerror(send_err));
	else if (!ok)
		cli_error("%s: the server sent a malformed answer", c->what);
	buf_t b = {0};
	sink_t sk = {.b = &b, .fd = (fd >= 0 && *status == 200) ? fd : -1};
	if (ok && !(chunked ? rd_chunked(r, &sk) : rd_copy(r, length, &sk))) {
		cli_error("%s: the server's answer was cut short", c->what);
		ok = false;
	}
	if (ok && (sk.overflow || sk.write_failed)) {
		cli_error("%s: %s", c->what, sk.overflow ? "answer too large" : strerror(errno));
		ok = false;
	}
	if (ok && sk.fd < 0 && b.len)
		*out = json_loadb((const char *)b.data, b.len, 0, NULL);
	buf_free(&b);
	free(r);
	close(s);
	return ok;
}

/* ---- the entry points ---- */

static bool call(cli_ctx_t *c, const char *method, const char *path, const char *const *query,
                 json_t *body, int fd, int *status, json_t **out)
{
	*out = NULL;
	*status = 0;
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	bool ok = c->sock_path ? remote_call(c, method, path, query, text, NULL, 0, fd, status, out)
	                       : direct_call(c, method, path, query, text, fd, status, out);
	free(text);
	return ok;
}

bool cli_call(cli_ctx_t *c, const char *method, const char *path, const char *const *query,
              json_t *body, int *status, json_t **out)
{
	return call(c, method, path, query, body, -1, status, out);
}

bool cli_call_stream(cli_ctx_t *c, const char *path, const char *const *query, int fd,
                     int *status, json_t **err_json)
{
	return call(c, "GET", path, query, NULL, fd, status, err_json);
}

/* In-process upload: the same streamed path the HTTP transport takes. */
static bool direct_upload(cli_ctx_t *c, const char *path, const char *const *query,
                          const void *data, size_t len, int *status, json_t **out)
{
	api_kv_t kv[32];
	size_t n = 0;
	for (size_t i = 0; query && query[i] && n < 32; i += 2)
		if (query[i + 1])
			kv[n++] = (api_kv_t){query[i], query[i + 1]};
	api_kv_t hdr[] = {{"Content-Type", "message/rfc822"}};
	api_request_t req = {
		.method = "POST",
		.path = path,
		.query = kv,
		.nquery = n,
		.headers = hdr,
		.nheaders = 1,
		.client = c->client,
		.transport = API_VIA_DIRECT,
	};
	api_response_t r;
	api_response_init(&r);
	api_upload_t *u = api_upload_begin(c->app, c->principal, &req, &r);
	if (u) {
		/* In pieces, as a socket would deliver them. */
		for (size_t off = 0; off < len; off += 65536)
			api_upload_write(u, (const uint8_t *)data + off, len - off < 65536 ? len - off : 65536);
		api_response_clear(&r);
		api_upload_end(u, &req, &r);
	}
	*status = r.status;
	*out = r.json ? json_incref(r.json) : NULL;
	api_response_clear(&r);
	return true;
}

bool cli_upload(cli_ctx_t *c, const char *path, const char *const *query, const void *data,
                size_t len, int *status, json_t **out)
{
	*out = NULL;
	*status = 0;
	if (c->sock_path)
		return remote_call(c, "POST", path, query, NULL, data, len, -1, status, out);
	return direct_upload(c, path, query, data, len, status, out);
}

int cli_api_error(const char *what, int status, json_t *j)
{
	const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
	if (msg)
		cli_error("%s: %s", what, msg);
	else
		cli_error("%s: the server answered %d", what, status);
	return 1;
}

void cli_print_safe(FILE *f, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++)
		fputc(*p < 0x20 || *p == 0x7f ? '?' : *p, f);
}

/* ---- passwords ---- */

static char *read_line_stdin(void)
{
	buf_t b = {0};
	int ch;
	while ((ch = fgetc(stdin)) != EOF && ch != '\n') {
		if (b.len > AUTH_PASSWORD_MAX) {
			buf_free(&b);
			return NULL;
		}
		buf_append_byte(&b, (uint8_t)ch);
	}
	if (b.len && b.data[b.len - 1] == '\r')
		b.len--;
	if (ch == EOF && !b.len) {
		buf_free(&b);
		return NULL;
	}
	buf_append_byte(&b, 0);
	return (char *)b.data;
}

static char *prompt_noecho(const char *prompt)
{
	struct termios old, t;
	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(STDIN_FILENO, &old) != 0)
		return read_line_stdin();
	t = old;
	t.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
	char *s = read_line_stdin();
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return s;
}

char *cli_read_password(const char *what, const char *user, bool from_stdin, bool *failed)
{
	*failed = false;
	if (from_stdin) {
		char *pw = read_line_stdin();
		if (!pw) {
			cli_error("%s: --password-stdin: no password on standard input", what);
			*failed = true;
		}
		return pw;
	}
	if (!isatty(STDIN_FILENO))
		return NULL;
	char prompt[128];
	snprintf(prompt, sizeof prompt, "New password for %s (empty: generate one): ", user);
	char *a = prompt_noecho(prompt);
	if (!a || !*a) {
		free(a);
		return NULL;
	}
	char *b = prompt_noecho("Repeat it: ");
	if (!b || strcmp(a, b)) {
		cli_error("%s: the passwords differ", what);
		*failed = true;
		free(a);
		free(b);
		return NULL;
	}
	free(b);
	return a;
}
