/* test_http.c — the HTTP server over real sockets, driven by curl and by a
 * raw socket: login with a cookie, 401 without a session, /metrics, a raw
 * download byte for byte, oversized and chunked bodies, malformed HTTP
 * (the server answers 4xx and stays up), and the control socket with
 * SO_PEERCRED (the data dir's owner is cli:<user>; another uid gets 403). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "testapp.h"
#include "vellum/api.h"
#include "vellum/http.h"
#include "vellum/log.h"

static testapp_t *T;
static char addr[128];
static char *sock;

/* Runs a shell command; its stdout into out (appended); returns exit status. */
static int run(buf_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(buf_t *out, const char *fmt, ...)
{
	va_list ap;
	buf_t cmd = {0};
	va_start(ap, fmt);
	buf_vprintf(&cmd, fmt, ap);
	va_end(ap);
	FILE *p = popen((char *)cmd.data, "r");
	buf_free(&cmd);
	if (!p)
		return -1;
	char b[4096];
	size_t n;
	while ((n = fread(b, 1, sizeof b, p)) > 0)
		if (out)
			buf_append(out, b, n);
	return pclose(p);
}

/* Sends raw bytes to the TCP listener and returns what came back. */
static void raw_exchange(const char *req, size_t len, buf_t *out)
{
	char host[64];
	int port;
	sscanf(addr, "%63[^:]:%d", host, &port);
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	inet_pton(AF_INET, host, &sin.sin_addr);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct timeval tv = {.tv_sec = 10};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
		util_write_all(fd, req, len);
		shutdown(fd, SHUT_WR);
		char b[4096];
		ssize_t n;
		while ((n = read(fd, b, sizeof b)) > 0)
			buf_append(out, b, (size_t)n);
	}
	close(fd);
}

static bool starts(const buf_t *b, const char *prefix)
{
	return b->len >= strlen(prefix) && !memcmp(b->data, prefix, strlen(prefix));
}

static void test_tcp(void)
{
	buf_t o = {0};
	run(&o, "curl -s -o /dev/null -w '%%{http_code}' 'http://%s/healthz'", addr);
	is_str((char *)o.data, "200", "healthz over TCP");
	buf_reset(&o);
	run(&o, "curl -s -w ' %%{http_code}' 'http://%s/api/v1/search?q=x'", addr);
	ok(o.len && strstr((char *)o.data, "\"unauthorized\"") && strstr((char *)o.data, " 401"),
	   "search without a session: 401 with a JSON error");
	buf_reset(&o);
	char *jar = xasprintf("%s/cookies", T->dir);
	run(&o, "curl -s -c %s -H 'Content-Type: application/json' "
	        "-d '{\"user\":\"alice\",\"password\":\"alice-password-1\"}' 'http://%s/api/v1/session'",
	    jar, addr);
	ok(strstr((char *)o.data, "csrf_token") != NULL, "login over TCP");
	buf_reset(&o);
	run(&o, "curl -s -b %s -w ' %%{http_code}' 'http://%s/api/v1/search?q=first+word'", jar,
	    addr);
	ok(strstr((char *)o.data, "\"results\"") && strstr((char *)o.data, " 200"),
	   "search with the cookie: 200");
	buf_reset(&o);
	char *rawf = xasprintf("%s/raw.eml", T->dir);
	run(&o, "curl -s -b %s -D - -o %s 'http://%s/api/v1/messages/default-1/raw'", jar, rawf,
	    addr);
	ok(strstr((char *)o.data, "message/rfc822") && strcasestr((char *)o.data, "attachment"),
	   "raw download headers");
	buf_t got = {0};
	util_read_file(rawf, 1 << 20, &got);
	is_mem(got.data, got.len, testapp_msg[0], strlen(testapp_msg[0]), "raw bytes over HTTP");
	buf_free(&got);
	buf_reset(&o);
	run(&o, "curl -s -I -b %s 'http://%s/api/v1/messages/default-1/raw'", jar, addr);
	ok(starts(&o, "HTTP/1.1 200"), "HEAD on raw");
	buf_reset(&o);
	run(&o, "curl -s 'http://%s/metrics'", addr);
	ok(strstr((char *)o.data, "vellum_http_requests_total") != NULL,
	   "/metrics from loopback without a session");
	buf_reset(&o);

	/* A body over the limit, announced and chunked. */
	char *big = xasprintf("%s/big.json", T->dir);
	char *cmd = xasprintf("head -c %u /dev/zero | tr '\\0' 'x' > %s", API_BODY_MAX + 10, big);
	run(NULL, "%s", cmd);
	free(cmd);
	run(&o, "curl -s -w ' %%{http_code}' -H 'Content-Type: application/json' "
	        "--data-binary @%s 'http://%s/api/v1/session'", big, addr);
	ok(strstr((char *)o.data, " 413") && strstr((char *)o.data, "payload_too_large"),
	   "oversized body with Content-Length: 413");
	buf_reset(&o);
	run(&o, "curl -s -w ' %%{http_code}' -H 'Content-Type: application/json' "
	        "-H 'Transfer-Encoding: chunked' --data-binary @%s 'http://%s/api/v1/session'",
	    big, addr);
	ok(strstr((char *)o.data, " 413") != NULL, "oversized chunked body: 413");
	buf_reset(&o);
	run(&o, "printf '{\"user\":\"alice\",\"password\":\"alice-password-1\"}' | curl -s "
	        "-w ' %%{http_code}' -H 'Content-Type: application/json' "
	        "-H 'Transfer-Encoding: chunked' --data-binary @- 'http://%s/api/v1/session'", addr);
	ok(strstr((char *)o.data, " 200") != NULL, "a small chunked body is read whole");
	buf_reset(&o);
	free(big);
	free(rawf);
	free(jar);
	buf_free(&o);
}

static void test_malformed(void)
{
	static const struct {
		const char *req, *name;
	} bad[] = {
		{"GARBAGE\r\n\r\n", "garbage request line"},
		{"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: "
		 "chunked\r\n\r\n0\r\n\r\n", "Content-Length with Transfer-Encoding"},
		{"POST /api/v1/session HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
		 "bad Content-Length"},
		{"GET /healthz HTTP/1.1\r\nNoColonHere\r\n\r\n", "header without colon"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		buf_t o = {0};
		raw_exchange(bad[i].req, strlen(bad[i].req), &o);
		ok(o.len == 0 || starts(&o, "HTTP/1.1 4") || starts(&o, "HTTP/1.0 4") ||
		   starts(&o, "HTTP/1.1 200"), "%s: 4xx or closed", bad[i].name);
		buf_free(&o);
	}
	/* Headers far beyond the connection's memory limit. */
	buf_t huge = {0};
	buf_append_str(&huge, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ");
	for (int i = 0; i < 100000; i++)
		buf_append_byte(&huge, 'a');
	buf_append_str(&huge, "\r\n\r\n");
	buf_t o = {0};
	raw_exchange((char *)huge.data, huge.len, &o);
	ok(o.len == 0 || starts(&o, "HTTP/1.1 4"), "100 KB header: 4xx or closed");
	buf_free(&o);
	buf_free(&huge);
	const char *good = "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
	raw_exchange(good, strlen(good), &o);
	ok(starts(&o, "HTTP/1.1 200"), "the server is still up");
	ok(strstr((char *)o.data, "X-Content-Type-Options: nosniff") != NULL,
	   "responses carry nosniff");
	buf_free(&o);
}

static void test_control(void)
{
	buf_t o = {0};
	run(&o, "curl -s --unix-socket %s -w ' %%{http_code}' "
	        "'http://localhost/api/v1/search?q=x'", sock);
	ok(strstr((char *)o.data, " 200") != NULL, "control socket: search as the data dir's owner");
	buf_reset(&o);
	run(&o, "curl -s --unix-socket %s 'http://localhost/api/v1/audit?action=search'", sock);
	ok(strstr((char *)o.data, "\"who\":\"cli:") != NULL, "audited as cli:<user>");
	buf_reset(&o);
	struct stat st;
	ok(stat(sock, &st) == 0 && (st.st_mode & 077) == 0, "control socket is 0600");
	if (getuid() != 0) {
		diag("not root: cannot try another uid on the control socket");
		buf_free(&o);
		return;
	}
	/* Let uid 65534 reach the socket, so that SO_PEERCRED decides. */
	char *var = xasprintf("%s/var", T->dir);
	chmod(T->dir, 0711);
	chmod(var, 0711);
	chmod(sock, 0666);
	run(&o, "setpriv --reuid=65534 --regid=65534 --clear-groups curl -s --unix-socket %s "
	        "-w ' %%{http_code}' 'http://localhost/api/v1/search?q=x'", sock);
	ok(strstr((char *)o.data, " 403") && strstr((char *)o.data, "forbidden"),
	   "control socket: another uid gets 403");
	chmod(sock, 0600);
	chmod(var, 0700);
	chmod(T->dir, 0700);
	free(var);
	buf_free(&o);
}

/* The vellum CLI (VELLUM_BIN) against this data dir: through the control
 * socket while the server holds the lock (remote), in-process otherwise. */
static char *conf;

static int cli(buf_t *out, const char *input, const char *args)
{
	const char *bin = getenv("VELLUM_BIN");
	return WEXITSTATUS(run(out, "%s%s%s %s -c %s %s 2>&1", input ? "printf '%s\\n' '" : "",
	                       input ? input : "", input ? "' |" : "", bin, conf, args));
}

static void test_cli(bool remote)
{
	const char *how = remote ? "through the server" : "in-process";
	buf_t o = {0};
	char args[256];
	snprintf(args, sizeof args, "user add %s --role auditor --archive default --password-stdin",
	         remote ? "erin" : "fred");
	int rc = cli(&o, "a long enough password", args);
	ok(rc == 0 && strstr((char *)o.data, "auditor:default"), "user add %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "user list");
	ok(rc == 0 && strstr((char *)o.data, "admin\tactive\tadmin:*, auditor:*"), "user list %s",
	   how);
	buf_reset(&o);
	rc = cli(&o, NULL, remote ? "user add gina" : "user add hugo");
	ok(rc == 0 && strstr((char *)o.data, "password: "), "a generated password is printed %s",
	   how);
	buf_reset(&o);
	rc = cli(&o, NULL, "user grant gina --role legal --archive nowhere");
	ok(rc == 1 && strstr((char *)o.data, "vellum: user grant gina: no archive nowhere"),
	   "errors are 'vellum: what: why' %s", how);
	buf_reset(&o);
	char *rawf = xasprintf("%s/cli-raw.eml", T->dir);
	snprintf(args, sizeof args, "show --raw default-1 > %s", rawf);
	rc = cli(NULL, NULL, args);
	buf_t got = {0};
	util_read_file(rawf, 1 << 20, &got);
	ok(rc == 0 && got.len == strlen(testapp_msg[0]) &&
	   !memcmp(got.data, testapp_msg[0], got.len), "show --raw is byte-exact %s", how);
	buf_free(&got);
	free(rawf);
	rc = cli(&o, NULL, "show default-1");
	ok(rc == 0 && strstr((char *)o.data, T->msg_sha[0]), "show prints the SHA-256 %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "show default-99");
	ok(rc == 1 && strstr((char *)o.data, "vellum: show default-99: no message default-99"),
	   "show of a missing id fails %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "search --json 'anything at all'");
	ok(rc == 0 && strstr((char *)o.data, "\"results\""), "search --json %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "search 'subject:(unclosed'");
	ok(rc == 1 && strstr((char *)o.data, "vellum: search: "), "a bad query fails %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "audit --action search");
	ok(rc == 0 && strstr((char *)o.data, "anything at all") && strstr((char *)o.data, "cli:"),
	   "audit shows the CLI's searches with their query %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "audit --user nobody-at-all");
	ok(rc == 0 && o.len == 0, "audit filter excludes others %s", how);
	buf_reset(&o);
	rc = cli(&o, NULL, "audit --since 'not a time'");
	ok(rc == 1, "audit with a bad --since fails %s", how);
	buf_free(&o);
}

/* A stand-in server on the control socket path that answers every request
 * with one canned response, to drive the CLI's HTTP client through chunked
 * and broken bodies. */
typedef struct fake {
	int fd;
	const char *answer;
	pthread_t th;
} fake_t;

static void *fake_run(void *arg)
{
	fake_t *f = arg;
	int c = accept(f->fd, NULL, NULL);
	if (c >= 0) {
		char b[4096];
		ssize_t n = read(c, b, sizeof b);   /* one small request */
		(void)n;
		util_write_all(c, f->answer, strlen(f->answer));
		close(c);
	}
	return NULL;
}

static void fake_start(fake_t *f, const char *answer)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock);
	unlink(sock);
	f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	f->answer = answer;
	if (bind(f->fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(f->fd, 4) != 0)
		testapp_bail("fake server");
	pthread_create(&f->th, NULL, fake_run, f);
}

static void fake_stop(fake_t *f)
{
	pthread_join(f->th, NULL);
	close(f->fd);
	unlink(sock);
}

static void test_cli_client(void)
{
	fake_t f;
	buf_t o = {0};
	fake_start(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	               "5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\nTrailer: x\r\n\r\n");
	int rc = cli(&o, NULL, "show --raw default-1");
	fake_stop(&f);
	ok(rc == 0 && o.len == 12 && !memcmp(o.data, "hello, world", 12),
	   "the CLI decodes a chunked answer");
	buf_reset(&o);
	fake_start(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
	rc = cli(&o, NULL, "show --raw default-1");
	fake_stop(&f);
	ok(rc == 1 && strstr((char *)o.data, "cut short"), "a chunked answer cut short fails");
	buf_reset(&o);
	fake_start(&f, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n");
	rc = cli(&o, NULL, "show --raw default-1");
	fake_stop(&f);
	ok(rc == 1, "a bad chunk size fails");
	buf_reset(&o);
	fake_start(&f, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort");
	rc = cli(&o, NULL, "show --raw default-1");
	fake_stop(&f);
	ok(rc == 1 && strstr((char *)o.data, "cut short"), "fewer bytes than Content-Length fails");
	buf_reset(&o);
	fake_start(&f, "SMTP/1.0 what\r\n\r\n");
	rc = cli(&o, NULL, "user list");
	fake_stop(&f);
	ok(rc == 1 && strstr((char *)o.data, "malformed"), "a non-HTTP answer fails");
	buf_reset(&o);
	fake_start(&f, "HTTP/1.1 404 Not Found\r\nContent-Length: 47\r\n\r\n"
	               "{\"error\":{\"code\":\"not_found\",\"message\":\"gone\"}}");
	rc = cli(&o, NULL, "show --raw default-1");
	fake_stop(&f);
	ok(rc == 1 && strstr((char *)o.data, "vellum: show default-1: gone"),
	   "an error answer to --raw is reported, not written out");
	buf_free(&o);
	/* No server answers at all while the lock is held. */
	rc = cli(&o, NULL, "user list");
	ok(rc == 1 && strstr((char *)o.data, "does not answer"), "a dead control socket is reported");
	buf_free(&o);
}

int main(void)
{
	log_set_level(LOG_LEVEL_OFF);
	T = testapp_new("http", NULL);
	http_server_t *srv;
	if (http_server_new(T->app, &srv) != HTTP_OK) {
		printf("Bail out! http_server_new\n");
		return 1;
	}
	http_server_addr(srv, addr, sizeof addr);
	ok(strncmp(addr, "127.0.0.1:", 10) == 0 && strcmp(addr, "127.0.0.1:0"),
	   "bound to an ephemeral port: %s", addr);
	sock = app_socket_path(T->app->cfg);
	test_tcp();
	test_malformed();
	test_control();
	conf = xasprintf("%s/test.conf", T->dir);
	char *text = xasprintf("[storage]\ndata_dir = %s/var\nmaster_key_file = %s/master.key\n"
	                       "min_free = 1M\n[http]\nlisten = 127.0.0.1:0\n", T->dir, T->dir);
	util_write_file_atomic(conf, text, strlen(text), 0600);
	free(text);
	bool have_bin = getenv("VELLUM_BIN") && access(getenv("VELLUM_BIN"), X_OK) == 0;
	if (have_bin)
		test_cli(true);
	http_server_free(srv);
	ok(access(sock, F_OK) != 0, "control socket removed at shutdown");
	if (have_bin)
		test_cli_client();   /* the lock is still held by this process */
	free(sock);
	http_status_t st = HTTP_OK;
	http_server_t *s2;
	free(T->app->cfg->http.listen);
	T->app->cfg->http.listen = xstrdup("not an address");
	st = http_server_new(T->app, &s2);
	ok(st == HTTP_ECONFIG && !s2, "a bad listen address is refused");
	/* No server now: the CLI takes the lock itself.  The test's own app
	 * holds it too, so close that first. */
	app_close(T->app);
	T->app = NULL;
	if (have_bin)
		test_cli(false);
	else
		diag("VELLUM_BIN not set: CLI not tested");
	free(conf);
	testapp_free(T);
	return tap_done();
}
