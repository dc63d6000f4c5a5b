/* smtp_session.c — one SMTP connection: an explicit state machine.
 *
 * Does: greet (or refuse) a client, read command lines through the session's
 * transport, dispatch them through one table where each command has a
 * check_* (is it in sequence, are its arguments valid: returns the reply to
 * give) and a proceed_* (act and answer), stream DATA through the
 * end-of-data scanner into a store append, hand the append to the store and
 * answer 250 only when its completion says the message is durable in every
 * target archive.  PIPELINING (RFC 2920) falls out of the design: commands are
 * taken from the input buffer in order, answers are queued and flushed when
 * the input runs dry or the client must wait.  Also BDAT (RFC 3030), STARTTLS
 * (RFC 3207) and AUTH PLAIN/LOGIN (RFC 4954), and the listener's policies
 * (require_tls, auth = required).  Does not: own sockets' registration,
 * timers or listeners (smtp_server.c), parse paths (smtp_parse.c), find the
 * end of the data (smtp_data.c), speak TLS (smtp_tls.c) or check passwords
 * (smtp_auth.c).
 *
 * States (smtp_state_t):
 *   INIT --EHLO/HELO--> HELO --MAIL--> MAIL --RCPT--> RCPT --DATA/354--> DATA
 *   DATA --CRLF.CRLF--> COMMIT --completion--> HELO (250 or 4xx/5xx)
 *   DATA --CRLF.CRLF after an error (too big, store refused)--> HELO (4xx/5xx)
 *   RCPT --BDAT n--> BDAT --BDAT n--> BDAT --BDAT n LAST--> COMMIT
 *   HELO --STARTTLS/220--> TLS_START --written--> TLS --handshake--> INIT
 *   HELO --AUTH--> (SASL lines) --> AUTH_WAIT --worker--> HELO (235, 454)
 *                                              --worker--> AUTH_DELAY --timer--> HELO (535)
 *   any --RSET--> HELO (INIT before EHLO); --EHLO--> HELO (transaction reset)
 *   any --QUIT/421/EOF--> CLOSING;  a 554 greeting --> REJECTED (only QUIT)
 * A BDAT chunk's bytes are read in any state, whatever its answer (the
 * chunk member), so a pipelining client stays in step after an error.
 * A session in COMMIT or AUTH_WAIT is never freed before its answer arrives:
 * the store or the AUTH worker holds a pointer to it.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sodium.h>
#include <sys/epoll.h>

#include "smtp_private.h"
#include "vellum/auth.h"
#include "vellum/log.h"

/* ---- output ---- */

static const char *hostname(const smtp_session_t *s)
{
	return smtp_listener_hostname(s->lst);
}

static void session_close_soon(smtp_session_t *s)
{
	if (s->state != SMTP_STATE_CLOSING) {
		s->state = SMTP_STATE_CLOSING;
		s->closing_since = util_monotonic_us();
	}
}

/* Queues a reply.  Replies that close (221, 421) move to CLOSING; protocol
 * errors count towards SMTP_ERRORS_MAX. */
static void reply(smtp_session_t *s, smtp_reply_id_t id, const char *extra)
{
	const smtp_reply_t *r = smtp_reply_get(id);
	/* RFC 5321 §4.2: greetings and 421 begin with our name. */
	bool with_host = r->code == 220 || r->code == 421 || id == SMTP_R_DENIED;
	smtp_reply_format(&s->out, id, with_host ? hostname(s) : NULL, extra);
	if (r->closes) {
		session_close_soon(s);
		return;
	}
	bool protocol_error = (r->code >= 500 && r->code <= 503) || r->code == 555;
	if (protocol_error && ++s->errors > SMTP_ERRORS_MAX) {
		log_info("smtp.errors", "session=%llu client=%s errors=%u",
		         (unsigned long long)s->id, s->addr, s->errors);
		smtp_reply_format(&s->out, SMTP_R_TOO_MANY_ERRORS, hostname(s), NULL);
		session_close_soon(s);
	}
}

static void session_flush(smtp_session_t *s)
{
	while (s->out_off < s->out.len && !s->dead) {
		ssize_t w =
		    s->io.ops->write(&s->io, s->out.data + s->out_off, s->out.len - s->out_off);
		if (w > 0) {
			s->out_off += (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			s->dead = true;
		}
	}
	if (s->out_off == s->out.len || s->dead) {
		buf_reset(&s->out);
		s->out_off = 0;
	}
}

static size_t out_pending(const smtp_session_t *s)
{
	return s->out.len - s->out_off;
}

/* ---- the transaction ---- */

static void tx_reset(smtp_session_t *s)
{
	smtp_tx_t *tx = &s->tx;
	if (tx->append)
		store_append_abort(tx->append);
	free(tx->mail_from);
	free(tx->mail_params);
	for (size_t i = 0; i < tx->nrcpt; i++)
		free(tx->rcpt[i]);
	free(tx->rcpt);
	for (size_t i = 0; i < tx->narchives; i++)
		free(tx->archives[i]);
	free(tx->archives);
	memset(tx, 0, sizeof *tx);
}

static void tx_add_archive(smtp_tx_t *tx, const char *name)
{
	for (size_t i = 0; i < tx->narchives; i++)
		if (!strcmp(tx->archives[i], name))
			return;
	if (tx->narchives == tx->archives_cap) {
		tx->archives_cap = tx->archives_cap ? tx->archives_cap * 2 : 4;
		tx->archives = xrealloc(tx->archives, tx->archives_cap * sizeof *tx->archives);
	}
	tx->archives[tx->narchives++] = xstrdup(name);
}

static void tx_add_rcpt(smtp_tx_t *tx, const char *addr)
{
	if (tx->nrcpt == tx->rcpt_cap) {
		tx->rcpt_cap = tx->rcpt_cap ? tx->rcpt_cap * 2 : 8;
		tx->rcpt = xrealloc(tx->rcpt, tx->rcpt_cap * sizeof *tx->rcpt);
	}
	tx->rcpt[tx->nrcpt++] = xstrdup(addr);
}

/* Counts the final answer to a message: per listener, and per archive it
 * was meant for. */
static void count_message(smtp_session_t *s, smtp_reply_id_t id)
{
	smtp_server_count_reply(s->lst, id, SMTP_COUNT_MESSAGE);
	for (size_t i = 0; i < s->tx.narchives; i++)
		smtp_server_count_archive(s->lst, s->tx.archives[i], id);
}

/* Ends a transaction that will not be committed: answer, count, back to HELO. */
static void tx_refuse(smtp_session_t *s, smtp_reply_id_t id)
{
	log_info("smtp.refused", "session=%llu listener=%s client=%s reply=%u size=%llu",
	         (unsigned long long)s->id, s->lst->cfg->name, s->addr, smtp_reply_get(id)->code,
	         (unsigned long long)s->tx.size);
	count_message(s, id);
	tx_reset(s);
	s->state = SMTP_STATE_HELO;
	reply(s, id, NULL);
}

/* The envelope of the transaction, borrowing the session's strings. */
static store_envelope_t tx_envelope(const smtp_session_t *s, uint32_t extra_flags)
{
	const smtp_tx_t *tx = &s->tx;
	store_envelope_t env = {
	    .received = 0,
	    .listener = s->lst->cfg->name,
	    .client_addr = s->addr,
	    .client_port = (uint16_t)s->port,
	    .helo = s->helo,
	    .tls_version = s->tls_version,
	    .tls_cipher = s->tls_cipher,
	    .auth_id = s->principal ? ((const auth_principal_t *)s->principal)->name : NULL,
	    .mail_from = tx->mail_from,
	    .mail_params = tx->mail_params,
	    .rcpt = (const char *const *)tx->rcpt,
	    .nrcpt = tx->nrcpt,
	    .flags = tx->flags | extra_flags,
	};
	return env;
}

/* Hands the complete message to the store; the answer comes with the
 * completion (smtp_session_on_commit). */
static void tx_commit(smtp_session_t *s, uint32_t flags)
{
	smtp_tx_t *tx = &s->tx;
	tx->flags |= flags;
	if (flags)
		store_append_set_flags(tx->append, flags);
	s->commit_at = util_monotonic_us();
	store_append_commit(tx->append, s->srv->queue, s);
	tx->append = NULL;
	s->srv->pending++;
	s->state = SMTP_STATE_COMMIT;
}

/* ---- what a session may do ---- */

/* AUTH is offered over TLS, and in the clear only to a loopback client on a
 * listener that says auth_plain_on_loopback (DESIGN.md §4). */
static bool auth_offered(const smtp_session_t *s)
{
	return s->srv->auth && (s->tls || (s->lst->cfg->auth_plain_on_loopback && s->loopback));
}

/* Forget what the session learned (RFC 3207 §4.2 after STARTTLS). */
static void session_forget(smtp_session_t *s)
{
	tx_reset(s);
	free(s->helo);
	s->helo = NULL;
	s->esmtp = false;
	s->sasl = SMTP_SASL_NONE;
	free(s->sasl_user);
	s->sasl_user = NULL;
	auth_principal_free(s->principal);
	s->principal = NULL;
}

/* ---- commands: check_* says whether and how to answer, proceed_* acts ---- */

typedef struct smtp_args {
	smtp_path_t path;
	smtp_mail_params_t params;
	size_t routes[64]; /* archive indices of one recipient (first 64) */
	size_t *route_v;   /* all of them when more */
	size_t nroutes;
	const ingest_routes_t *table;
	uint64_t chunk_size; /* BDAT */
	bool chunk_last;
	smtp_sasl_mech_t mech; /* AUTH */
	const char *ir;
	size_t irn;
} smtp_args_t;

static smtp_reply_id_t check_helo(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)s;
	(void)a;
	return smtp_parse_helo(arg, n);
}

static void session_set_helo(smtp_session_t *s, const char *arg, size_t n, bool esmtp)
{
	tx_reset(s); /* RFC 5321 §4.1.4: EHLO/HELO reset any transaction */
	free(s->helo);
	s->helo = xstrndup(arg, n);
	s->esmtp = esmtp;
	s->state = SMTP_STATE_HELO;
}

static void proceed_helo(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)a;
	session_set_helo(s, arg, n, false);
	buf_printf(&s->out, "250 %s\r\n", hostname(s));
}

static void proceed_ehlo(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)a;
	session_set_helo(s, arg, n, true);
	char size[40];
	snprintf(size, sizeof size, "SIZE %llu", (unsigned long long)s->lst->cfg->max_message_size);
	const char *caps[10];
	size_t ncaps = 0;
	caps[ncaps++] = "PIPELINING";
	caps[ncaps++] = size;
	caps[ncaps++] = "8BITMIME";
	caps[ncaps++] = "SMTPUTF8";
	caps[ncaps++] = "ENHANCEDSTATUSCODES";
	caps[ncaps++] = "CHUNKING";
	if (s->lst->tls && !s->tls)
		caps[ncaps++] = "STARTTLS";
	if (auth_offered(s))
		caps[ncaps++] = "AUTH PLAIN LOGIN";
	buf_printf(&s->out, "250-%s\r\n", hostname(s));
	for (size_t i = 0; i < ncaps; i++)
		buf_printf(&s->out, "250%c%s\r\n", i + 1 < ncaps ? '-' : ' ', caps[i]);
}

static smtp_reply_id_t check_mail(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->state != SMTP_STATE_HELO)
		return SMTP_R_NESTED_MAIL; /* also during BDAT */
	smtp_reply_id_t r = smtp_parse_mail(arg, n, &a->path, &a->params);
	if (r != SMTP_R_OK)
		return r;
	/* RFC 1870 §6: a declared size over the limit is refused at once. */
	if (a->params.has_size && a->params.size > s->lst->cfg->max_message_size)
		return SMTP_R_TOO_BIG;
	/* Short of space: say so before the client sends anything (452 4.3.1,
	 * RFC 3463: mail system full); it retries later. */
	if (!store_space_ok(s->srv->app->store))
		return SMTP_R_NO_SPACE;
	return SMTP_R_OK;
}

static void proceed_mail(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	tx_reset(s);
	s->tx.mail_from = xstrndup(a->path.addr, a->path.len);
	if (a->params.textn)
		s->tx.mail_params = xstrndup(a->params.text, a->params.textn);
	if (a->params.body == SMTP_BODY_8BITMIME)
		s->tx.flags |= STORE_ENV_8BITMIME;
	if (a->params.smtputf8)
		s->tx.flags |= STORE_ENV_SMTPUTF8;
	s->tx.fail = SMTP_R_OK;
	s->state = SMTP_STATE_MAIL;
	reply(s, SMTP_R_SENDER_OK, NULL);
}

/* Keeps only the archives the AUTH identity may feed (ingest on them). */
static size_t filter_granted(const smtp_session_t *s, smtp_args_t *a)
{
	size_t k = 0;
	for (size_t i = 0; i < a->nroutes; i++)
		if (auth_has_role(s->principal, ROLE_INGEST,
		                  ingest_routes_archive(a->table, a->route_v[i])))
			a->route_v[k++] = a->route_v[i];
	return k;
}

static smtp_reply_id_t check_rcpt(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->state == SMTP_STATE_BDAT)
		return SMTP_R_BAD_SEQ;
	if (s->state != SMTP_STATE_MAIL && s->state != SMTP_STATE_RCPT)
		return SMTP_R_NEED_MAIL;
	smtp_reply_id_t r =
	    smtp_parse_rcpt(arg, n, (s->tx.flags & STORE_ENV_SMTPUTF8) != 0, &a->path);
	if (r != SMTP_R_OK)
		return r;
	/* RFC 5321 §4.5.3.1.10: past the limit, 452 and the client sends the
	 * rest in another transaction. */
	if (s->tx.nrcpt >= s->lst->cfg->max_recipients)
		return SMTP_R_TOO_MANY_RCPT;
	a->table = smtp_server_routes(s->srv, s->lst);
	size_t count = a->table ? ingest_routes_count(a->table) : 0;
	a->route_v = a->routes;
	if (count > sizeof a->routes / sizeof a->routes[0])
		a->route_v = xcalloc(count, sizeof *a->route_v);
	a->nroutes =
	    count ? ingest_routes_lookup(a->table, a->path.addr, a->path.len, a->route_v) : 0;
	/* Never accept mail that no archive keeps. */
	if (!a->nroutes)
		return SMTP_R_RCPT_UNKNOWN;
	if (s->principal && (a->nroutes = filter_granted(s, a)) == 0)
		return SMTP_R_RCPT_FORBIDDEN;
	return SMTP_R_OK;
}

static void proceed_rcpt(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	tx_add_rcpt(&s->tx, a->path.addr);
	for (size_t i = 0; i < a->nroutes; i++)
		tx_add_archive(&s->tx, ingest_routes_archive(a->table, a->route_v[i]));
	s->state = SMTP_STATE_RCPT;
	reply(s, SMTP_R_RCPT_OK, NULL);
}

/* Starts the store append; false (answered and counted by the caller) when
 * the store refuses. */
static smtp_reply_id_t tx_begin(smtp_session_t *s, uint32_t flags)
{
	smtp_tx_t *tx = &s->tx;
	store_envelope_t env = tx_envelope(s, flags);
	store_status_t st =
	    store_append_begin(s->srv->app->store, &env, (const char *const *)tx->archives,
	                       tx->narchives, &tx->append);
	if (st != STORE_OK) {
		tx->append = NULL;
		return smtp_reply_for_store(st);
	}
	tx->flags |= flags;
	smtp_data_init(&tx->data, s->lst->cfg->max_line);
	tx->size = 0;
	tx->fail = SMTP_R_OK;
	tx->bdat_cr = false;
	return SMTP_R_OK;
}

static smtp_reply_id_t check_data(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)a;
	if (n)
		return SMTP_R_NO_ARGS;
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->state == SMTP_STATE_HELO)
		return SMTP_R_NEED_MAIL;
	/* RFC 3030 §3: DATA and BDAT do not mix in one transaction. */
	if (s->state == SMTP_STATE_BDAT)
		return SMTP_R_BAD_SEQ;
	/* RFC 2920 §3.1: with every RCPT refused, DATA gets 554. */
	if (s->state == SMTP_STATE_MAIL)
		return SMTP_R_NO_RCPT;
	return SMTP_R_OK;
}

static void proceed_data(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	smtp_reply_id_t r = tx_begin(s, 0);
	if (r != SMTP_R_OK) {
		/* The transaction stays open: the client may RSET or QUIT. */
		count_message(s, r);
		reply(s, r, NULL);
		return;
	}
	s->state = SMTP_STATE_DATA;
	reply(s, SMTP_R_DATA_GO, NULL);
}

/* BDAT: the check decides the answer; the bytes are read in any case. */
static smtp_reply_id_t check_bdat(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->state == SMTP_STATE_HELO)
		return SMTP_R_NEED_MAIL;
	if (s->state == SMTP_STATE_MAIL)
		return SMTP_R_NO_RCPT;
	if (s->state != SMTP_STATE_RCPT && s->state != SMTP_STATE_BDAT)
		return SMTP_R_BAD_SEQ;
	uint64_t max = s->lst->cfg->max_message_size;
	if (a->chunk_size > max || s->tx.size > max - a->chunk_size)
		return SMTP_R_TOO_BIG;
	return SMTP_R_OK;
}

static smtp_reply_id_t check_no_args(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)s;
	(void)arg;
	(void)a;
	return n ? SMTP_R_NO_ARGS : SMTP_R_OK;
}

static void proceed_rset(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	tx_reset(s);
	if (s->state != SMTP_STATE_INIT)
		s->state = SMTP_STATE_HELO;
	reply(s, SMTP_R_OK, NULL);
}

static smtp_reply_id_t check_any(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)s;
	(void)arg;
	(void)n;
	(void)a;
	return SMTP_R_OK;
}

static smtp_reply_id_t check_vrfy(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)s;
	(void)arg;
	(void)a;
	return n ? SMTP_R_OK : SMTP_R_PARAM_SYNTAX;
}

static void proceed_noop(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	reply(s, SMTP_R_OK, NULL);
}

static void proceed_quit(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	tx_reset(s);
	reply(s, SMTP_R_BYE, NULL);
}

static void proceed_vrfy(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	reply(s, SMTP_R_VRFY, NULL);
}

static void proceed_help(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	reply(s, SMTP_R_HELP, NULL);
}

/* ---- STARTTLS (RFC 3207) ---- */

static smtp_reply_id_t check_starttls(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)a;
	if (!s->lst->tls)
		return SMTP_R_NOT_IMPL; /* not offered on this listener */
	if (n)
		return SMTP_R_NO_ARGS;
	if (s->tls)
		return SMTP_R_TLS_ACTIVE;
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->state != SMTP_STATE_HELO)
		return SMTP_R_BAD_SEQ; /* not inside a transaction */
	return SMTP_R_OK;
}

static void proceed_starttls(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	(void)a;
	reply(s, SMTP_R_TLS_GO, NULL);
	/* Anything the client sent after STARTTLS in the clear is dropped,
	 * never run after the handshake (the STARTTLS command injection class,
	 * CVE-2011-0411). */
	if (s->in_w > s->in_r)
		log_info("smtp.tls",
		         "session=%llu client=%s dropped=%zu why=plaintext after STARTTLS",
		         (unsigned long long)s->id, s->addr, s->in_w - s->in_r);
	s->in_r = s->in_w = 0;
	s->discarding = false;
	s->state = SMTP_STATE_TLS_START;
}

static void session_tls_step(smtp_session_t *s)
{
	const char *err = NULL;
	int r = smtp_io_handshake(&s->io, &s->tls_want, &err);
	if (r < 0) {
		log_info("smtp.tls", "session=%llu client=%s result=failed err=%s",
		         (unsigned long long)s->id, s->addr, err);
		metric_inc(s->lst->m_tls[1]);
		s->dead = true;
		return;
	}
	s->last_input = util_monotonic_us();
	if (r == 0)
		return;
	session_forget(s);
	s->tls = true;
	s->tls_version = xstrdup(smtp_io_tls_version(&s->io));
	s->tls_cipher = xstrdup(smtp_io_tls_cipher(&s->io));
	s->state = SMTP_STATE_INIT; /* EHLO again (RFC 3207 §4.2) */
	metric_inc(s->lst->m_tls[0]);
	log_info("smtp.tls", "session=%llu client=%s result=ok version=%s cipher=%s",
	         (unsigned long long)s->id, s->addr, s->tls_version, s->tls_cipher);
}

static void session_tls_begin(smtp_session_t *s)
{
	if (!smtp_io_start_tls(&s->io, s->lst->tls)) {
		/* The 220 is out; there is no way back to plaintext. */
		metric_inc(s->lst->m_tls[1]);
		s->dead = true;
		return;
	}
	s->state = SMTP_STATE_TLS;
	session_tls_step(s);
}

/* ---- AUTH (RFC 4954; PLAIN RFC 4616; LOGIN) ---- */

static smtp_reply_id_t check_auth(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	if (!s->srv->auth)
		return SMTP_R_NOT_IMPL;
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->principal)
		return SMTP_R_AUTH_ALREADY;
	if (s->state != SMTP_STATE_HELO)
		return SMTP_R_BAD_SEQ; /* §4: not during a mail transaction */
	if (!auth_offered(s))
		return SMTP_R_AUTH_NEED_TLS;
	return smtp_parse_auth(arg, n, &a->mech, &a->ir, &a->irn);
}

static void auth_end(smtp_session_t *s)
{
	s->sasl = SMTP_SASL_NONE;
	if (s->sasl_user) {
		sodium_memzero(s->sasl_user, strlen(s->sasl_user));
		free(s->sasl_user);
		s->sasl_user = NULL;
	}
}

/* A failed attempt: counted, and answered only after a delay that grows
 * with each failure; the last one allowed also closes the session. */
static void auth_failed(smtp_session_t *s)
{
	s->auth_failures++;
	metric_inc(s->lst->m_auth[1]);
	log_info("smtp.auth", "session=%llu listener=%s client=%s result=failed failures=%u",
	         (unsigned long long)s->id, s->lst->cfg->name, s->addr, s->auth_failures);
	s->delayed = SMTP_R_AUTH_FAILED;
	s->reply_at =
	    util_monotonic_us() + (int64_t)s->auth_failures * SMTP_AUTH_DELAY_S * UTIL_US_PER_SEC;
	s->state = SMTP_STATE_AUTH_DELAY;
}

static void auth_submit(smtp_session_t *s, const char *user, const char *pass, const char *mech)
{
	smtp_auth_job_t *j = xcalloc(1, sizeof *j);
	snprintf(j->user, sizeof j->user, "%s", user);
	snprintf(j->pass, sizeof j->pass, "%s", pass);
	snprintf(j->client, sizeof j->client, "%s", s->addr);
	j->listener = s->lst->cfg->name;
	j->mech = mech;
	j->session = s;
	auth_end(s);
	if (!smtp_server_auth_submit(s->srv, j)) {
		smtp_auth_job_free(j);
		metric_inc(s->lst->m_auth[2]);
		reply(s, SMTP_R_AUTH_TEMP, NULL);
		return;
	}
	s->state = SMTP_STATE_AUTH_WAIT;
}

/* One SASL response (or the initial response) for the mechanism under way. */
static void auth_response(smtp_session_t *s, const char *line, size_t len)
{
	uint8_t dec[SMTP_SASL_USER_MAX + SMTP_SASL_PASS_MAX + 2 + SMTP_SASL_USER_MAX];
	size_t n = 0;
	smtp_reply_id_t r = smtp_sasl_decode(line, len, dec, sizeof dec, &n);
	if (r == SMTP_R_OK && s->sasl == SMTP_SASL_PLAIN) {
		char user[SMTP_SASL_USER_MAX + 1], pass[SMTP_SASL_PASS_MAX + 1];
		r = smtp_sasl_plain_split(dec, n, user, pass);
		if (r == SMTP_R_OK)
			auth_submit(s, user, pass, "PLAIN");
		sodium_memzero(pass, sizeof pass);
	} else if (r == SMTP_R_OK && !s->sasl_user) {
		/* LOGIN, first answer: the user name. */
		if (n == 0 || n > SMTP_SASL_USER_MAX || memchr(dec, '\0', n)) {
			r = SMTP_R_AUTH_BAD64;
		} else {
			s->sasl_user = xstrndup((const char *)dec, n);
			buf_append_str(&s->out, "334 UGFzc3dvcmQ6\r\n"); /* "Password:" */
		}
	} else if (r == SMTP_R_OK) {
		if (n > SMTP_SASL_PASS_MAX || memchr(dec, '\0', n)) {
			r = SMTP_R_AUTH_BAD64;
		} else {
			char pass[SMTP_SASL_PASS_MAX + 1];
			memcpy(pass, dec, n);
			pass[n] = '\0';
			auth_submit(s, s->sasl_user, pass, "LOGIN");
			sodium_memzero(pass, sizeof pass);
		}
	}
	sodium_memzero(dec, sizeof dec);
	if (r == SMTP_R_AUTH_FAILED) {
		auth_end(s);
		auth_failed(s);
	} else if (r != SMTP_R_OK) {
		auth_end(s);
		reply(s, r, NULL);
	}
}

static void proceed_auth(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	(void)arg;
	(void)n;
	s->sasl = a->mech;
	if (a->ir) {
		auth_response(s, a->ir, a->irn);
		return;
	}
	/* PLAIN: an empty challenge; LOGIN: "Username:". */
	buf_append_str(&s->out, a->mech == SMTP_SASL_PLAIN ? "334 \r\n" : "334 VXNlcm5hbWU6\r\n");
}

void smtp_session_on_auth(smtp_session_t *s, smtp_auth_job_t *j)
{
	if (s->dead) {
		smtp_auth_job_free(j);
		smtp_server_session_free(s->srv, s);
		return;
	}
	s->state = SMTP_STATE_HELO;
	s->last_input = util_monotonic_us();
	if (j->result == SMTP_AUTH_RES_OK) {
		s->principal = j->principal;
		j->principal = NULL;
		metric_inc(s->lst->m_auth[0]);
		log_info("smtp.auth", "session=%llu listener=%s client=%s user=%s result=ok",
		         (unsigned long long)s->id, s->lst->cfg->name, s->addr, j->user);
		reply(s, SMTP_R_AUTH_OK, NULL);
	} else if (j->result == SMTP_AUTH_RES_DENIED) {
		auth_failed(s);
	} else {
		metric_inc(s->lst->m_auth[2]);
		reply(s, SMTP_R_AUTH_TEMP, NULL);
	}
	smtp_auth_job_free(j);
	if (s->shutdown) {
		/* The server is stopping: no delay, answer and say goodbye. */
		if (s->state == SMTP_STATE_AUTH_DELAY) {
			s->state = SMTP_STATE_HELO;
			reply(s, s->delayed, NULL);
		}
		if (s->state != SMTP_STATE_CLOSING)
			reply(s, SMTP_R_SHUTDOWN, NULL);
	}
	smtp_session_on_io(s, 0);
}

/* The held-back answer to a failed AUTH. */
static void auth_delay_done(smtp_session_t *s)
{
	s->state = SMTP_STATE_HELO;
	reply(s, s->delayed, NULL);
	if (s->auth_failures >= SMTP_AUTH_FAILURES_MAX)
		reply(s, SMTP_R_AUTH_TOO_MANY, NULL);
	s->last_input = util_monotonic_us();
	smtp_session_on_io(s, 0);
}

typedef smtp_reply_id_t (*check_fn)(smtp_session_t *, const char *, size_t, smtp_args_t *);
typedef void (*proceed_fn)(smtp_session_t *, const char *, size_t, smtp_args_t *);

/* The dispatch table.  A NULL check means the command is known but not
 * offered; the reply for that is `refuse`.  BDAT has no proceed: its chunk
 * is set up by session_command whatever the check says. */
static const struct smtp_command {
	smtp_cmd_t cmd;
	check_fn check;
	proceed_fn proceed;
	smtp_reply_id_t refuse;
} commands[SMTP_CMD__COUNT] = {
    [SMTP_CMD_UNKNOWN] = {SMTP_CMD_UNKNOWN, NULL, NULL, SMTP_R_UNKNOWN_CMD},
    [SMTP_CMD_HELO] = {SMTP_CMD_HELO, check_helo, proceed_helo, SMTP_R_OK},
    [SMTP_CMD_EHLO] = {SMTP_CMD_EHLO, check_helo, proceed_ehlo, SMTP_R_OK},
    [SMTP_CMD_MAIL] = {SMTP_CMD_MAIL, check_mail, proceed_mail, SMTP_R_OK},
    [SMTP_CMD_RCPT] = {SMTP_CMD_RCPT, check_rcpt, proceed_rcpt, SMTP_R_OK},
    [SMTP_CMD_DATA] = {SMTP_CMD_DATA, check_data, proceed_data, SMTP_R_OK},
    [SMTP_CMD_RSET] = {SMTP_CMD_RSET, check_no_args, proceed_rset, SMTP_R_OK},
    [SMTP_CMD_NOOP] = {SMTP_CMD_NOOP, check_any, proceed_noop, SMTP_R_OK},
    [SMTP_CMD_QUIT] = {SMTP_CMD_QUIT, check_any, proceed_quit, SMTP_R_OK},
    [SMTP_CMD_VRFY] = {SMTP_CMD_VRFY, check_vrfy, proceed_vrfy, SMTP_R_OK},
    [SMTP_CMD_HELP] = {SMTP_CMD_HELP, check_any, proceed_help, SMTP_R_OK},
    [SMTP_CMD_EXPN] = {SMTP_CMD_EXPN, NULL, NULL, SMTP_R_NOT_IMPL},
    [SMTP_CMD_BDAT] = {SMTP_CMD_BDAT, check_bdat, NULL, SMTP_R_OK},
    [SMTP_CMD_STARTTLS] = {SMTP_CMD_STARTTLS, check_starttls, proceed_starttls, SMTP_R_OK},
    [SMTP_CMD_AUTH] = {SMTP_CMD_AUTH, check_auth, proceed_auth, SMTP_R_OK},
    [SMTP_CMD_HTTP] = {SMTP_CMD_HTTP, NULL, NULL, SMTP_R_NOT_SMTP},
};

/* Listener policy before any command's own check: require_tls (RFC 3207 §4:
 * everything but NOOP, EHLO, STARTTLS and QUIT gets 530 in the clear; HELO
 * and RSET are as harmless) and auth = required (RFC 4954 §6). */
static smtp_reply_id_t check_policy(const smtp_session_t *s, smtp_cmd_t cmd)
{
	if (s->state == SMTP_STATE_REJECTED)
		return cmd == SMTP_CMD_QUIT ? SMTP_R_OK : SMTP_R_ONLY_QUIT;
	const config_listener_t *cfg = s->lst->cfg;
	bool tls_free = cmd == SMTP_CMD_NOOP || cmd == SMTP_CMD_EHLO || cmd == SMTP_CMD_HELO ||
	                cmd == SMTP_CMD_STARTTLS || cmd == SMTP_CMD_QUIT || cmd == SMTP_CMD_RSET ||
	                cmd == SMTP_CMD_UNKNOWN || cmd == SMTP_CMD_HTTP;
	if (cfg->require_tls && !s->tls && !tls_free)
		return SMTP_R_NEED_TLS;
	bool mail = cmd == SMTP_CMD_MAIL || cmd == SMTP_CMD_RCPT || cmd == SMTP_CMD_DATA ||
	            cmd == SMTP_CMD_BDAT;
	if (cfg->auth_required && !s->principal && mail)
		return SMTP_R_NEED_AUTH;
	return SMTP_R_OK;
}

/* BDAT: sets up the chunk that follows the command; when the check passed,
 * the first chunk of a transaction starts the store append. */
static void chunk_start(smtp_session_t *s, smtp_args_t *a, smtp_reply_id_t r)
{
	smtp_chunk_t *c = &s->chunk;
	memset(c, 0, sizeof *c);
	c->active = true;
	c->size = c->left = a->chunk_size;
	c->last = a->chunk_last;
	c->refuse = r;
	if (r == SMTP_R_OK && s->state == SMTP_STATE_RCPT) {
		c->refuse = tx_begin(s, STORE_ENV_BDAT);
		if (c->refuse == SMTP_R_OK)
			s->state = SMTP_STATE_BDAT;
	}
	c->store = c->refuse == SMTP_R_OK;
}

static void session_command(smtp_session_t *s, const char *line, size_t len)
{
	const char *arg;
	size_t argn;
	bool bad;
	smtp_cmd_t cmd = smtp_cmd_parse(line, len, &arg, &argn, &bad);
	if (bad) {
		reply(s, SMTP_R_SYNTAX, NULL);
		return;
	}
	smtp_args_t a;
	a.route_v = NULL;
	a.nroutes = 0;
	a.table = NULL;
	if (cmd == SMTP_CMD_BDAT) {
		/* Without a size nothing can be read: answer, and the next line
		 * is a command again. */
		smtp_reply_id_t r = smtp_parse_bdat(arg, argn, &a.chunk_size, &a.chunk_last);
		if (r != SMTP_R_OK) {
			reply(s, r, NULL);
			return;
		}
	}
	const struct smtp_command *c = &commands[cmd];
	smtp_reply_id_t r = check_policy(s, cmd);
	if (r == SMTP_R_OK)
		r = c->check ? c->check(s, arg, argn, &a) : c->refuse;
	if (cmd == SMTP_CMD_BDAT)
		chunk_start(s, &a, r);
	else if (r == SMTP_R_OK)
		c->proceed(s, arg, argn, &a);
	else {
		if (cmd == SMTP_CMD_RCPT || cmd == SMTP_CMD_MAIL)
			smtp_server_count_reply(s->lst, r, SMTP_COUNT_ENVELOPE);
		reply(s, r, NULL);
	}
	if (a.route_v && a.route_v != a.routes)
		free(a.route_v);
}

/* ---- input ---- */

/* Longest line allowed next: SASL responses and AUTH commands may be longer
 * than other commands (RFC 4954 §4). */
static size_t line_limit(const smtp_session_t *s, const uint8_t *start, size_t avail)
{
	if (s->sasl != SMTP_SASL_NONE)
		return SMTP_AUTH_LINE_MAX;
	if (avail >= 5 && !strncasecmp((const char *)start, "AUTH ", 5))
		return SMTP_AUTH_LINE_MAX;
	return SMTP_CMD_MAX;
}

/* Takes the next command line from the input buffer.  Returns false when
 * more input is needed.  Over-long lines are swallowed to their end and
 * answered 500 (RFC 5321 §4.5.3.1.4); *line is NULL then. */
static bool next_line(smtp_session_t *s, const char **line, size_t *len)
{
	uint8_t *start = s->in + s->in_r;
	size_t avail = s->in_w - s->in_r;
	uint8_t *lf = memchr(start, '\n', avail);
	size_t limit = line_limit(s, start, avail);
	*line = NULL;
	if (!lf) {
		if (s->discarding || avail >= limit) {
			s->discarding = true;
			s->in_r = s->in_w;
		}
		return false;
	}
	size_t full = (size_t)(lf - start) + 1;
	s->in_r += full;
	if (s->discarding || full > limit) {
		s->discarding = false;
		if (s->sasl != SMTP_SASL_NONE)
			auth_end(s);
		reply(s, SMTP_R_LINE_TOO_LONG, NULL);
		return true;
	}
	*len = full - 1;
	if (*len && start[*len - 1] == '\r')
		(*len)--;
	*line = (const char *)start;
	return true;
}

/* Feeds buffered input to the DATA scanner and the store.  Returns false
 * when more input is needed. */
static bool session_data(smtp_session_t *s)
{
	smtp_tx_t *tx = &s->tx;
	size_t avail = s->in_w - s->in_r, outn;
	bool done;
	if (!avail)
		return false;
	uint8_t *out = s->srv->scratch;
	size_t used = smtp_data_scan(&tx->data, s->in + s->in_r, avail, out, &outn, &done);
	s->in_r += used;
	uint64_t max = s->lst->cfg->max_message_size;
	if (tx->fail == SMTP_R_OK && tx->data.long_line)
		tx->fail = SMTP_R_LONG_LINE;
	if (tx->fail == SMTP_R_OK && (tx->size + outn > max))
		tx->fail = SMTP_R_TOO_BIG; /* read on to the end, then 552 */
	if (tx->fail == SMTP_R_OK && outn) {
		store_status_t st = store_append_write(tx->append, out, outn);
		if (st != STORE_OK)
			tx->fail = smtp_reply_for_store(st);
	}
	if (tx->fail != SMTP_R_OK && tx->append) {
		store_append_abort(tx->append); /* free its memory now */
		tx->append = NULL;
	}
	tx->size += outn;
	if (done) {
		if (tx->fail != SMTP_R_OK)
			tx_refuse(s, tx->fail);
		else
			tx_commit(s, tx->data.flags);
	}
	return true;
}

/* The end of a BDAT chunk: its answer. */
static void chunk_done(smtp_session_t *s)
{
	smtp_chunk_t *c = &s->chunk;
	smtp_tx_t *tx = &s->tx;
	c->active = false;
	if (!c->store) {
		/* RFC 3030 §2: after a failed chunk the transaction has failed;
		 * a refusal that is about the message ends it. */
		bool ends = s->state == SMTP_STATE_BDAT ||
		            (s->state == SMTP_STATE_RCPT && smtp_reply_get(c->refuse)->code != 503);
		if (ends)
			tx_refuse(s, c->refuse);
		else
			reply(s, c->refuse, NULL);
	} else if (tx->fail != SMTP_R_OK) {
		tx_refuse(s, tx->fail);
	} else if (c->last) {
		tx_commit(s, tx->data.flags | smtp_bdat_flags_end(tx->bdat_cr));
	} else {
		char n[32];
		snprintf(n, sizeof n, "%llu octets", (unsigned long long)c->size);
		reply(s, SMTP_R_CHUNK_OK, n);
	}
}

/* Reads buffered input into the current BDAT chunk (stored or dropped).
 * Returns false when more input is needed. */
static bool session_chunk(smtp_session_t *s)
{
	smtp_chunk_t *c = &s->chunk;
	smtp_tx_t *tx = &s->tx;
	size_t avail = s->in_w - s->in_r;
	size_t n = c->left < avail ? (size_t)c->left : avail;
	if (c->left && !n)
		return false;
	const uint8_t *p = s->in + s->in_r;
	if (c->store && tx->fail == SMTP_R_OK && n) {
		tx->data.flags |= smtp_bdat_flags(&tx->bdat_cr, p, n);
		store_status_t st = store_append_write(tx->append, p, n);
		if (st != STORE_OK) {
			tx->fail = smtp_reply_for_store(st);
			store_append_abort(tx->append);
			tx->append = NULL;
		}
	}
	if (c->store)
		tx->size += n;
	s->in_r += n;
	c->left -= n;
	if (c->left == 0)
		chunk_done(s);
	return true;
}

/* States in which no input is taken: an answer, the handshake or a timer
 * must come first. */
static bool state_waits(smtp_state_t st)
{
	return st == SMTP_STATE_COMMIT || st == SMTP_STATE_CLOSING || st == SMTP_STATE_TLS_START ||
	       st == SMTP_STATE_TLS || st == SMTP_STATE_AUTH_WAIT || st == SMTP_STATE_AUTH_DELAY;
}

/* Runs commands and data from the input buffer until it needs more input,
 * must wait (store, slow reader, TLS, AUTH) or is closing. */
static void session_process(smtp_session_t *s)
{
	while (out_pending(s) < SMTP_OUTBUF_MAX) {
		if (s->chunk.active) {
			if (!session_chunk(s))
				break;
			continue;
		}
		if (s->state == SMTP_STATE_DATA) {
			if (!session_data(s))
				break;
			continue;
		}
		if (state_waits(s->state))
			break;
		const char *line;
		size_t len;
		if (!next_line(s, &line, &len))
			break;
		if (!line)
			continue;
		if (s->sasl != SMTP_SASL_NONE)
			auth_response(s, line, len);
		else
			session_command(s, line, len);
	}
	if (s->in_r == s->in_w)
		s->in_r = s->in_w = 0;
}

static bool wants_input(const smtp_session_t *s)
{
	return !s->dead && !s->eof && !state_waits(s->state) && out_pending(s) < SMTP_OUTBUF_MAX;
}

/* One read into the input buffer.  Returns false when nothing came (EAGAIN);
 * EOF and errors set eof/dead and return true so buffered input is still
 * processed. */
static bool session_read(smtp_session_t *s)
{
	if (s->in_r > 0) {
		memmove(s->in, s->in + s->in_r, s->in_w - s->in_r);
		s->in_w -= s->in_r;
		s->in_r = 0;
	}
	if (s->in_w == SMTP_INBUF_SIZE)
		return false; /* cannot happen: process leaves < SMTP_AUTH_LINE_MAX */
	ssize_t r = s->io.ops->read(&s->io, s->in + s->in_w, SMTP_INBUF_SIZE - s->in_w);
	if (r > 0) {
		s->in_w += (size_t)r;
		s->last_input = util_monotonic_us();
		metric_add(s->lst->m_bytes, (uint64_t)r);
		return true;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return false;
	s->eof = true;
	if (r < 0)
		s->dead = true;
	return true;
}

/* Waiting for the store or the AUTH worker: they hold a pointer to us. */
static bool answer_owed(const smtp_session_t *s)
{
	return s->state == SMTP_STATE_COMMIT || s->state == SMTP_STATE_AUTH_WAIT;
}

/* After processing: close what is finished, register interest in the rest. */
static void session_settle(smtp_session_t *s)
{
	if (s->eof && !s->dead && !answer_owed(s) && s->state != SMTP_STATE_CLOSING) {
		/* The client stopped sending: data cut short is not a message. */
		if (s->state == SMTP_STATE_DATA || s->chunk.active || s->state == SMTP_STATE_BDAT)
			log_info("smtp.truncated", "session=%llu client=%s size=%llu",
			         (unsigned long long)s->id, s->addr,
			         (unsigned long long)s->tx.size);
		tx_reset(s);
		s->chunk.active = false;
		session_close_soon(s);
	}
	if (answer_owed(s)) {
		if (s->dead) {
			smtp_server_watch(s->srv, s, 0); /* wait for the answer */
			return;
		}
	} else if (s->dead) {
		smtp_server_session_free(s->srv, s);
		return;
	} else if (s->state == SMTP_STATE_TLS) {
		smtp_server_watch(s->srv, s, s->tls_want);
		return;
	} else if (s->state == SMTP_STATE_CLOSING && !out_pending(s)) {
		/* Everything said.  Closing now with unread input would send a
		 * reset that can destroy our last reply in the client's buffer,
		 * so half-close and read to the client's end (or the grace). */
		if (s->eof || s->shut_wr) {
			smtp_server_session_free(s->srv, s);
			return;
		}
		s->io.ops->shutdown(&s->io);
		s->shut_wr = true;
		smtp_server_watch(s->srv, s, EPOLLIN);
		return;
	}
	uint32_t ev = 0;
	if (wants_input(s)) {
		ev |= EPOLLIN;
		/* Decrypted bytes waiting inside GnuTLS raise no event. */
		if (s->io.ops->pending(&s->io))
			smtp_server_again(s->srv, s);
	}
	if (out_pending(s))
		ev |= EPOLLOUT;
	smtp_server_watch(s->srv, s, ev);
}

/* After the half-close: discard what the client still sends until its end. */
static void session_drain(smtp_session_t *s)
{
	for (int i = 0; i < SMTP_READS_PER_EVENT; i++) {
		ssize_t r = s->io.ops->read(&s->io, s->in, SMTP_INBUF_SIZE);
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (r <= 0) {
			smtp_server_session_free(s->srv, s);
			return;
		}
	}
}

static void session_drive(smtp_session_t *s)
{
	for (int reads = 0;;) {
		session_process(s);
		if (out_pending(s) >= SMTP_OUTBUF_MAX) {
			/* Stopped for a slow reader: if it took the output, go on
			 * with the input already buffered — no event would come
			 * for it. */
			session_flush(s);
			if (!s->dead && out_pending(s) < SMTP_OUTBUF_MAX)
				continue;
			break;
		}
		if (s->state == SMTP_STATE_TLS_START) {
			/* The 220 must be out, alone, before the handshake. */
			session_flush(s);
			if (s->dead || out_pending(s))
				break;
			session_tls_begin(s);
			if (s->state != SMTP_STATE_INIT)
				break;
			continue;
		}
		if (!wants_input(s) || reads++ == SMTP_READS_PER_EVENT)
			break;
		if (!session_read(s))
			break;
	}
	session_flush(s);
	session_settle(s);
}

/* ---- entry points from the server ---- */

smtp_session_t *smtp_session_new(smtp_server_t *srv, smtp_listener_t *l, int fd,
                                 const struct sockaddr *peer, smtp_client_t *client,
                                 smtp_reply_id_t refuse)
{
	smtp_session_t *s = xcalloc(1, sizeof *s);
	s->kind = SMTP_EV_SESSION;
	s->srv = srv;
	s->lst = l;
	s->client = client;
	s->id = ++srv->next_session_id;
	smtp_io_plain(&s->io, fd);
	util_sockaddr_format(peer, s->addr, sizeof s->addr, &s->port);
	s->loopback = util_sockaddr_is_loopback(peer);
	s->in = xmalloc(SMTP_INBUF_SIZE);
	s->started = s->last_input = util_monotonic_us();
	s->state = SMTP_STATE_INIT;
	log_info("smtp.connect", "session=%llu listener=%s client=%s port=%d%s%s",
	         (unsigned long long)s->id, l->cfg->name, s->addr, s->port,
	         refuse != SMTP_R_OK ? " refused=" : "",
	         refuse != SMTP_R_OK ? smtp_reply_name(refuse) : "");
	if (refuse == SMTP_R_DENIED) {
		/* RFC 5321 §3.1: after a 554 greeting, wait for QUIT. */
		reply(s, SMTP_R_DENIED, NULL);
		s->state = SMTP_STATE_REJECTED;
	} else if (refuse != SMTP_R_OK) {
		reply(s, refuse, NULL);
	} else {
		reply(s, SMTP_R_GREETING, NULL);
	}
	return s;
}

/* Called by the server once the session is linked and registered, for
 * readiness of its socket (events 0: drive it anyway). */
void smtp_session_on_io(smtp_session_t *s, uint32_t events)
{
	if (answer_owed(s) && (events & (EPOLLERR | EPOLLHUP))) {
		/* EPOLLERR/EPOLLHUP while the store or the AUTH worker works:
		 * nothing more can be said; wait without the fd in the set. */
		s->dead = true;
		smtp_server_watch(s->srv, s, 0);
		return;
	}
	if (s->shut_wr) {
		session_drain(s);
		return;
	}
	if (s->state == SMTP_STATE_TLS) {
		session_tls_step(s);
		if (s->dead || s->state == SMTP_STATE_TLS) {
			session_settle(s);
			return;
		}
	}
	if (events & EPOLLOUT)
		session_flush(s);
	session_drive(s);
}

static void commit_reply(smtp_session_t *s, const store_completion_t *c)
{
	smtp_reply_id_t id = smtp_reply_for_store(c->status);
	char sha[65];
	util_hex(c->sha256, sizeof c->sha256, sha);
	buf_t ids = {0};
	for (size_t i = 0; c->status == STORE_OK && i < c->nids; i++)
		buf_printf(&ids, "%s%s-%llu", i ? " " : "", c->ids[i].archive,
		           (unsigned long long)c->ids[i].seq);
	char q[LOG_Q_MAX], qi[LOG_Q_MAX];
	log_info("smtp.message",
	         "session=%llu listener=%s client=%s from=%s rcpts=%zu size=%llu sha256=%s "
	         "status=%s reply=%u ids=%s",
	         (unsigned long long)s->id, s->lst->cfg->name, s->addr,
	         log_q(q, sizeof q, s->tx.mail_from), s->tx.nrcpt, (unsigned long long)c->size, sha,
	         store_strerror(c->status), smtp_reply_get(id)->code,
	         log_q(qi, sizeof qi, ids.len ? (char *)ids.data : "-"));
	count_message(s, id);
	if (!s->dead)
		reply(s, id, ids.len ? (char *)ids.data : NULL);
	buf_free(&ids);
}

void smtp_session_on_commit(smtp_session_t *s, store_completion_t *c)
{
	s->srv->pending--;
	s->last_input = util_monotonic_us(); /* the wait was ours, not the client's */
	metric_observe(s->lst->m_commit, (double)(s->last_input - s->commit_at) / 1e6);
	commit_reply(s, c);
	store_completion_free(c);
	tx_reset(s);
	if (s->state == SMTP_STATE_COMMIT)
		s->state = SMTP_STATE_HELO;
	if (s->dead) {
		smtp_server_session_free(s->srv, s);
		return;
	}
	if (s->shutdown && s->state != SMTP_STATE_CLOSING)
		reply(s, SMTP_R_SHUTDOWN, NULL);
	session_drive(s); /* pipelined commands may be waiting */
}

static void session_stop(smtp_session_t *s, smtp_reply_id_t why)
{
	if (s->state == SMTP_STATE_TLS || s->state == SMTP_STATE_TLS_START) {
		/* Nothing can be said in the middle of a handshake. */
		smtp_server_session_free(s->srv, s);
		return;
	}
	if (s->state == SMTP_STATE_DATA || s->chunk.active || s->state == SMTP_STATE_BDAT)
		log_info("smtp.truncated", "session=%llu client=%s reason=%s",
		         (unsigned long long)s->id, s->addr, smtp_reply_name(why));
	tx_reset(s);
	s->chunk.active = false;
	auth_end(s);
	reply(s, why, NULL);
	session_flush(s);
	session_settle(s);
}

void smtp_session_tick(smtp_session_t *s, int64_t now)
{
	const config_listener_t *cfg = s->lst->cfg;
	if (answer_owed(s))
		return;
	if (s->state == SMTP_STATE_CLOSING) {
		int64_t grace = s->srv->stopping ? SMTP_STOP_GRACE_US : SMTP_CLOSE_GRACE_US;
		if (now - s->closing_since > grace)
			smtp_server_session_free(s->srv, s);
		return;
	}
	if (s->state == SMTP_STATE_AUTH_DELAY) {
		if (now >= s->reply_at)
			auth_delay_done(s);
		return;
	}
	if (now - s->last_input > cfg->idle_timeout * UTIL_US_PER_SEC)
		session_stop(s, SMTP_R_IDLE_TIMEOUT);
	else if (now - s->started > cfg->session_timeout * UTIL_US_PER_SEC)
		session_stop(s, SMTP_R_SESSION_TIMEOUT);
}

void smtp_session_shutdown(smtp_session_t *s)
{
	if (answer_owed(s)) {
		s->shutdown = true;
		return;
	}
	if (s->state == SMTP_STATE_CLOSING)
		return;
	session_stop(s, SMTP_R_SHUTDOWN);
}

void smtp_session_free(smtp_session_t *s)
{
	if (!s)
		return;
	tx_reset(s);
	auth_end(s);
	auth_principal_free(s->principal);
	smtp_io_close(&s->io);
	free(s->helo);
	free(s->tls_version);
	free(s->tls_cipher);
	free(s->in);
	buf_free(&s->out);
	free(s);
}
