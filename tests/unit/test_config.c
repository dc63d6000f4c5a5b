/* test_config.c — vellum.conf parser: defaults, good files, every error class. */
#include "config.h"

#include <string.h>

#include "tap.h"
#include "vellum/config.h"

static config_t *load(const char *text, char **err)
{
	config_t *c = NULL;
	*err = NULL;
	config_load_string(text, strlen(text), "vellum.conf", "/etc/vellum", &c, err);
	return c;
}

/* Expects text to fail with exactly `want` as the message. */
static void bad(const char *text, const char *want, const char *what)
{
	char *err;
	config_t *c = load(text, &err);
	ok(c == NULL, "%s: refused", what);
	is_str(err, want, "%s: message", what);
	free(err);
	config_free(c);
}

static void test_defaults(void)
{
	config_t *c;
	char *err;
	ok(config_load(NULL, &c, &err) == CONFIG_OK, "embedded defaults load");
	ok(strstr(c->storage.data_dir, "/var") != NULL && c->storage.data_dir[0] == '/',
	   "data_dir absolute, resolved against the working directory");
	is_int(c->storage.segment_max, 256u << 20, "segment_max 256M");
	is_int(c->storage.segment_max_age.seconds, 86400, "segment_max_age 1d");
	is_int(c->storage.min_free, 1u << 30, "min_free 1G");
	is_int(c->nlisteners, 1, "one listener");
	is_str(c->listeners[0].name, "default", "named default");
	is_str(c->listeners[0].listen, "127.0.0.1:2525", "SMTP on loopback 2525");
	is_int(c->listeners[0].max_message_size, 64u << 20, "64M messages");
	is_int(c->listeners[0].n_allow_clients, 2, "loopback clients allowed");
	is_int(c->listeners[0].max_line, 65536, "max_line 64K");
	is_int(c->listeners[0].idle_timeout, 300, "idle 5min");
	is_int(c->listeners[0].session_timeout, 1800, "session 30min");
	ok(!c->listeners[0].auth_required && !c->listeners[0].require_tls, "no auth, no TLS");
	is_str(c->http.listen, "127.0.0.1:8025", "HTTP on loopback 8025");
	is_int(c->http.session_idle, 1800, "session idle 30min");
	is_int(c->http.session_max, 43200, "session max 12h");
	is_int(c->http.export_ttl, 7 * 86400, "export ttl 7d");
	is_int(c->narchives, 1, "one archive");
	is_str(c->archives[0].name, "default", "archive default");
	ok(c->archives[0].retention.forever, "permanent retention");
	is_str(c->archives[0].addresses[0], "*", "accepts anything");
	ok(c->storage.master_key_command == NULL, "no key command");
	config_free(c);
}

static void test_good_file(void)
{
	char *err;
	config_t *c = load("# comment\n"
	                   "; another\n"
	                   "[storage]\n"
	                   "data_dir = /srv/vellum   # inline comment\n"
	                   "segment_max = 64M\n"
	                   "master_key_file = keys/master.key\n"
	                   "[smtp]\n"
	                   "listen = 0.0.0.0:25\n"
	                   "allow_clients = 10.0.0.0/8, 2001:db8::/32\n"
	                   "auth = required\n"
	                   "idle_timeout = 2min\n"
	                   "[listener \"exchange\"]\n"
	                   "listen = [::1]:2526\n"
	                   "archives = legal, hr\n"
	                   "hostname = \"journal # host\"\n"
	                   "[http]\n"
	                   "require_totp_for_admin = yes\n"
	                   "[archive \"legal\"]\n"
	                   "addresses = journal@example.com *@legal.example.com\n"
	                   "retention = 7y\n"
	                   "[archive \"hr\"]\n"
	                   "addresses = hr-journal@example.com\n",
	                   &err);
	ok(c != NULL, "good file loads");
	if (!c) {
		diag("error: %s", err);
		free(err);
		return;
	}
	is_str(c->storage.data_dir, "/srv/vellum", "absolute data_dir kept");
	is_str(c->storage.master_key_file, "/etc/vellum/keys/master.key",
	       "relative path resolved against the file's directory");
	is_int(c->storage.segment_max, 64u << 20, "override segment_max");
	is_int(c->storage.min_free, 1u << 30, "default min_free kept");
	is_int(c->nlisteners, 2, "two listeners");
	ok(c->listeners[0].auth_required, "auth = required");
	is_int(c->listeners[0].idle_timeout, 120, "idle 2min");
	is_int(c->listeners[0].n_allow_clients, 2, "two networks");
	const config_listener_t *ex = config_listener_find(c, "exchange");
	ok(ex != NULL, "named listener found");
	if (ex) {
		is_str(ex->listen, "[::1]:2526", "its address");
		ok(!ex->auth_required, "named listener starts from built-in defaults, not [smtp]");
		is_int(ex->idle_timeout, 300, "built-in idle timeout");
		is_int(ex->narchives, 2, "restricted to two archives");
		is_str(ex->hostname, "journal # host", "quoted value keeps #");
	}
	ok(c->http.require_totp_for_admin, "totp for admins");
	is_int(c->narchives, 2, "file archives replace the embedded default");
	is_str(c->archives[0].name, "legal", "legal archive");
	is_int(c->archives[0].retention.months, 84, "7y");
	is_int(c->archives[0].naddresses, 2, "two address patterns");
	is_int(c->archives[1].quiet_alert.seconds, 86400, "quiet_alert default 24h");
	config_free(c);
}

static void test_errors(void)
{
	bad("[smtp]\nlisen = 1.2.3.4:25\n",
	    "vellum.conf:2: unknown key 'lisen' in [smtp]", "unknown key");
	bad("[smtpd]\n", "vellum.conf:1: unknown section [smtpd]", "unknown section");
	bad("listen = 1\n", "vellum.conf:1: key 'listen' outside any section", "no section");
	bad("[storage]\njust words\n",
	    "vellum.conf:2: expected 'key = value', a [section] or a comment", "syntax");
	bad("[storage\n", "vellum.conf:1: malformed section header", "bad header");
	bad("[storage]\nsegment_max = lots\n",
	    "vellum.conf:2: bad value 'lots' for segment_max in [storage]: expected a size such "
	    "as 512K, 64M or 1G", "bad size");
	bad("[storage]\nsegment_max = 1K\n",
	    "vellum.conf:2: bad value '1K' for segment_max in [storage]: out of range",
	    "size out of range");
	bad("[smtp]\nidle_timeout = 1mo\n",
	    "vellum.conf:2: bad value '1mo' for idle_timeout in [smtp]: expected a duration "
	    "such as 30s, 5min or 12h", "calendar unit for a timeout");
	bad("[smtp]\nrequire_tls = maybe\n",
	    "vellum.conf:2: bad value 'maybe' for require_tls in [smtp]: expected yes or no",
	    "bad bool");
	bad("[smtp]\nauth = sometimes\n",
	    "vellum.conf:2: bad value 'sometimes' for auth in [smtp]: expected none or required",
	    "bad auth");
	bad("[smtp]\nallow_clients = 10.0.0.0/8 300.1.1.1\n",
	    "vellum.conf:2: bad network '300.1.1.1' for allow_clients in [smtp]", "bad network");
	bad("[smtp]\nlisten = localhost:25\n",
	    "vellum.conf:2: bad value 'localhost:25' for listen in [smtp]: expected a numeric "
	    "address and port, e.g. 127.0.0.1:2525 or [::1]:2525", "listen by name");
	bad("[smtp]\nmax_connections = -5\n",
	    "vellum.conf:2: bad value '-5' for max_connections in [smtp]: expected a whole "
	    "number", "negative number");
	bad("[smtp]\nmax_line = 10\n",
	    "vellum.conf:2: bad value '10' for max_line in [smtp]: out of range",
	    "max_line below RFC 5321 minimum");
	bad("[smtp]\nhostname = a\nhostname = b\n",
	    "vellum.conf:3: duplicate key 'hostname' in [smtp]", "duplicate key");
	bad("[listener \"x\"]\nhostname = a\n",
	    "vellum.conf: [listener \"x\"] needs listen = ADDRESS:PORT", "listener without listen");
	bad("[listener \"x\"]\nlisten = 127.0.0.1:1\n[listener \"x\"]\nlisten = 127.0.0.1:2\n",
	    "vellum.conf:3: [listener \"x\"] defined twice", "listener twice");
	bad("[archive \"Bad Name\"]\n",
	    "vellum.conf:1: bad name in [archive \"Bad Name\"]: use a-z, 0-9, '-', '_', '.'",
	    "bad archive name");
	bad("[archive \"_audit\"]\n",
	    "vellum.conf:1: bad name in [archive \"_audit\"]: use a-z, 0-9, '-', '_', '.'",
	    "reserved archive name");
	bad("[smtp]\ntls_cert = /x.pem\n",
	    "vellum.conf: listener default: tls_cert and tls_key go together", "cert without key");
	bad("[storage]\ndata_dir = /srv/v\nmaster_key_file = /srv/v/master.key\n",
	    "vellum.conf: master_key_file must be outside data_dir (a copy of the data must not "
	    "carry its key)", "key inside data dir");
	bad("[smtp]\nhostname = \"unterminated\n",
	    "vellum.conf:2: unterminated quoted value for 'hostname'", "unterminated quote");

	char *err;
	config_t *c = NULL;
	ok(config_load_string("[smtp]\n\0x", 9, "vellum.conf", "/", &c, &err) == CONFIG_ESYNTAX,
	   "NUL byte refused");
	free(err);
	buf_t big = {0};
	buf_append_str(&big, "[smtp]\nhostname = ");
	for (int i = 0; i < CONFIG_LINE_MAX; i++)
		buf_append_byte(&big, 'a');
	buf_append_str(&big, "\n");
	ok(config_load_string((char *)big.data, big.len, "vellum.conf", "/", &c, &err) ==
	       CONFIG_ESYNTAX && strstr(err, "line longer than"),
	   "oversized line refused");
	free(err);
	buf_free(&big);
	ok(config_load("/nonexistent/vellum.conf", &c, &err) == CONFIG_EIO, "missing file");
	is_str(err, "/nonexistent/vellum.conf: no such file", "missing file message");
	free(err);
	/* Truncated in the middle of a section header, a key and a quoted value. */
	const char *full = "[listener \"edge\"]\nlisten = 127.0.0.1:2600\nhostname = \"a\"\n";
	size_t fl = strlen(full), refused = 0, crashed = 0;
	for (size_t cut = 0; cut < fl; cut++) {
		c = NULL;
		err = NULL;
		config_status_t st = config_load_string(full, cut, "t.conf", "/", &c, &err);
		if (st)
			refused++;
		if ((st == CONFIG_OK) != (c != NULL))
			crashed++;
		config_free(c);
		free(err);
	}
	ok(refused > 0 && crashed == 0, "every truncation loads or fails cleanly (%zu refused)",
	   refused);
}

int main(void)
{
	test_defaults();
	test_good_file();
	test_errors();
	return tap_done();
}
