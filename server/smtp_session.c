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
 * the input runs dry or the client must wait.  Does not: own sockets'
 * registration, timers or listeners (smtp_server.c), parse paths
 * (smtp_parse.c) or find the end of the data (smtp_data.c).
 *
 * States (smtp_state_t):
 *   INIT --EHLO/HELO--> HELO --MAIL--> MAIL --RCPT--> RCPT --DATA/354--> DATA
 *   DATA --CRLF.CRLF--> COMMIT --completion--> HELO (250 or 4xx/5xx)
 *   DATA --CRLF.CRLF after an error (too big, store refused)--> HELO (4xx/5xx)
 *   any --RSET--> HELO (INIT before EHLO); --EHLO--> HELO (transaction reset)
 *   any --QUIT/421/EOF--> CLOSING;  a 554 greeting --> REJECTED (only QUIT)
 * A session in COMMIT is never freed before its completion arrives: the
 * store holds a pointer to it as the completion's cookie.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "smtp_private.h"
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

/* Ends a transaction that will not be committed: answer, count, back to HELO. */
static void tx_refuse(smtp_session_t *s, smtp_reply_id_t id)
{
	log_info("smtp.refused", "session=%llu listener=%s client=%s reply=%u size=%llu",
	         (unsigned long long)s->id, s->lst->cfg->name, s->addr, smtp_reply_get(id)->code,
	         (unsigned long long)s->tx.size);
	smtp_server_count_reply(s->lst, id, SMTP_COUNT_MESSAGE);
	tx_reset(s);
	s->state = SMTP_STATE_HELO;
	reply(s, id, NULL);
}

/* ---- commands: check_* says whether and how to answer, proceed_* acts ---- */

typedef struct smtp_args {
	smtp_path_t path;
	smtp_mail_params_t params;
	size_t routes[64]; /* archive indices of one recipient (first 64) */
	size_t *route_v;   /* all of them when more */
	size_t nroutes;
	const ingest_routes_t *table;
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
	/* Extensions offered; STARTTLS, AUTH and CHUNKING join here (stage 2). */
	char size[40];
	snprintf(size, sizeof size, "SIZE %llu", (unsigned long long)s->lst->cfg->max_message_size);
	const char *caps[] = {"PIPELINING", size, "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES"};
	size_t ncaps = sizeof caps / sizeof caps[0];
	buf_printf(&s->out, "250-%s\r\n", hostname(s));
	for (size_t i = 0; i < ncaps; i++)
		buf_printf(&s->out, "250%c%s\r\n", i + 1 < ncaps ? '-' : ' ', caps[i]);
}

static smtp_reply_id_t check_mail(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
	if (s->state != SMTP_STATE_HELO)
		return SMTP_R_NESTED_MAIL;
	smtp_reply_id_t r = smtp_parse_mail(arg, n, &a->path, &a->params);
	if (r != SMTP_R_OK)
		return r;
	/* RFC 1870 §6: a declared size over the limit is refused at once. */
	if (a->params.has_size && a->params.size > s->lst->cfg->max_message_size)
		return SMTP_R_TOO_BIG;
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

static smtp_reply_id_t check_rcpt(smtp_session_t *s, const char *arg, size_t n, smtp_args_t *a)
{
	if (s->state == SMTP_STATE_INIT)
		return SMTP_R_NEED_HELO;
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
	return a->nroutes ? SMTP_R_OK : SMTP_R_RCPT_UNKNOWN;
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
	smtp_tx_t *tx = &s->tx;
	store_envelope_t env = {
	    .received = 0,
	    .listener = s->lst->cfg->name,
	    .client_addr = s->addr,
	    .client_port = (uint16_t)s->port,
	    .helo = s->helo,
	    .mail_from = tx->mail_from,
	    .mail_params = tx->mail_params,
	    .rcpt = (const char *const *)tx->rcpt,
	    .nrcpt = tx->nrcpt,
	    .flags = tx->flags,
	};
	store_status_t st =
	    store_append_begin(s->srv->app->store, &env, (const char *const *)tx->archives,
	                       tx->narchives, &tx->append);
	if (st != STORE_OK) {
		/* The transaction stays open: the client may RSET or QUIT. */
		tx->append = NULL;
		smtp_reply_id_t id = smtp_reply_for_store(st);
		smtp_server_count_reply(s->lst, id, SMTP_COUNT_MESSAGE);
		reply(s, id, NULL);
		return;
	}
	smtp_data_init(&tx->data, s->lst->cfg->max_line);
	tx->size = 0;
	tx->fail = SMTP_R_OK;
	s->state = SMTP_STATE_DATA;
	reply(s, SMTP_R_DATA_GO, NULL);
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

typedef smtp_reply_id_t (*check_fn)(smtp_session_t *, const char *, size_t, smtp_args_t *);
typedef void (*proceed_fn)(smtp_session_t *, const char *, size_t, smtp_args_t *);

/* The dispatch table.  A NULL check means the command is known but not
 * offered (stage 2 adds BDAT, STARTTLS and AUTH here); the reply for that
 * is `refuse`. */
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
    [SMTP_CMD_BDAT] = {SMTP_CMD_BDAT, NULL, NULL, SMTP_R_NOT_IMPL},
    [SMTP_CMD_STARTTLS] = {SMTP_CMD_STARTTLS, NULL, NULL, SMTP_R_NOT_IMPL},
    [SMTP_CMD_AUTH] = {SMTP_CMD_AUTH, NULL, NULL, SMTP_R_NOT_IMPL},
    [SMTP_CMD_HTTP] = {SMTP_CMD_HTTP, NULL, NULL, SMTP_R_NOT_SMTP},
};

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
	if (s->state == SMTP_STATE_REJECTED && cmd != SMTP_CMD_QUIT) {
		reply(s, SMTP_R_ONLY_QUIT, NULL);
		return;
	}
	const struct smtp_command *c = &commands[cmd];
	if (!c->check) {
		reply(s, c->refuse, NULL);
		return;
	}
	smtp_args_t a;
	a.route_v = NULL;
	a.nroutes = 0;
	a.table = NULL;
	smtp_reply_id_t r = c->check(s, arg, argn, &a);
	if (r == SMTP_R_OK)
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

/* Takes the next command line from the input buffer.  Returns false when
 * more input is needed.  Over-long lines are swallowed to their end and
 * answered 500 (RFC 5321 §4.5.3.1.4); *line is NULL then. */
static bool next_line(smtp_session_t *s, const char **line, size_t *len)
{
	uint8_t *start = s->in + s->in_r;
	size_t avail = s->in_w - s->in_r;
	uint8_t *lf = memchr(start, '\n', avail);
	*line = NULL;
	if (!lf) {
		if (s->discarding || avail >= SMTP_CMD_MAX) {
			s->discarding = true;
			s->in_r = s->in_w;
		}
		return false;
	}
	size_t full = (size_t)(lf - start) + 1;
	s->in_r += full;
	if (s->discarding || full > SMTP_CMD_MAX) {
		s->discarding = false;
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
		if (tx->fail != SMTP_R_OK) {
			tx_refuse(s, tx->fail);
			return true;
		}
		tx->flags |= tx->data.flags;
		if (tx->data.flags)
			store_append_set_flags(tx->append, tx->data.flags);
		store_append_commit(tx->append, s->srv->queue, s);
		tx->append = NULL;
		s->srv->pending++;
		s->state = SMTP_STATE_COMMIT;
	}
	return true;
}

/* Runs commands and data from the input buffer until it needs more input,
 * must wait (store, slow reader) or is closing. */
static void session_process(smtp_session_t *s)
{
	while (out_pending(s) < SMTP_OUTBUF_MAX) {
		if (s->state == SMTP_STATE_DATA) {
			if (!session_data(s))
				break;
			continue;
		}
		if (s->state == SMTP_STATE_COMMIT || s->state == SMTP_STATE_CLOSING)
			break;
		const char *line;
		size_t len;
		if (!next_line(s, &line, &len))
			break;
		if (line)
			session_command(s, line, len);
	}
	if (s->in_r == s->in_w)
		s->in_r = s->in_w = 0;
}

static bool wants_input(const smtp_session_t *s)
{
	return !s->dead && !s->eof && s->state != SMTP_STATE_COMMIT &&
	       s->state != SMTP_STATE_CLOSING && out_pending(s) < SMTP_OUTBUF_MAX;
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
		return false; /* cannot happen: process leaves < SMTP_CMD_MAX */
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

/* After processing: close what is finished, register interest in the rest. */
static void session_settle(smtp_session_t *s)
{
	if (s->eof && !s->dead && s->state != SMTP_STATE_COMMIT && s->state != SMTP_STATE_CLOSING) {
		/* The client stopped sending: data cut short is not a message. */
		if (s->state == SMTP_STATE_DATA)
			log_info("smtp.truncated", "session=%llu client=%s size=%llu",
			         (unsigned long long)s->id, s->addr,
			         (unsigned long long)s->tx.size);
		tx_reset(s);
		session_close_soon(s);
	}
	if (s->state == SMTP_STATE_COMMIT) {
		if (s->dead) {
			smtp_server_watch(s->srv, s, 0); /* wait for the completion */
			return;
		}
	} else if (s->dead) {
		smtp_server_session_free(s->srv, s);
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
	if (wants_input(s))
		ev |= EPOLLIN;
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

/* Called by the server once the session is linked and registered. */
void smtp_session_on_io(smtp_session_t *s, uint32_t events)
{
	if (s->state == SMTP_STATE_COMMIT && (events & (EPOLLERR | EPOLLHUP))) {
		/* EPOLLERR/EPOLLHUP while the store works: nothing more can be
		 * said; wait for the completion without the fd in the set. */
		s->dead = true;
		smtp_server_watch(s->srv, s, 0);
		return;
	}
	if (s->shut_wr) {
		session_drain(s);
		return;
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
	smtp_server_count_reply(s->lst, id, SMTP_COUNT_MESSAGE);
	if (c->status == STORE_OK)
		for (size_t i = 0; i < c->nids; i++)
			smtp_server_count_archive(s->lst, c->ids[i].archive);
	if (!s->dead)
		reply(s, id, ids.len ? (char *)ids.data : NULL);
	buf_free(&ids);
}

void smtp_session_on_commit(smtp_session_t *s, store_completion_t *c)
{
	s->srv->pending--;
	s->last_input = util_monotonic_us(); /* the wait was ours, not the client's */
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
	if (s->state == SMTP_STATE_DATA)
		log_info("smtp.truncated", "session=%llu client=%s reason=%s",
		         (unsigned long long)s->id, s->addr, smtp_reply_name(why));
	tx_reset(s);
	reply(s, why, NULL);
	session_flush(s);
	session_settle(s);
}

void smtp_session_tick(smtp_session_t *s, int64_t now)
{
	const config_listener_t *cfg = s->lst->cfg;
	if (s->state == SMTP_STATE_COMMIT)
		return;
	if (s->state == SMTP_STATE_CLOSING) {
		int64_t grace = s->srv->stopping ? SMTP_STOP_GRACE_US : SMTP_CLOSE_GRACE_US;
		if (now - s->closing_since > grace)
			smtp_server_session_free(s->srv, s);
		return;
	}
	if (now - s->last_input > cfg->idle_timeout * UTIL_US_PER_SEC)
		session_stop(s, SMTP_R_IDLE_TIMEOUT);
	else if (now - s->started > cfg->session_timeout * UTIL_US_PER_SEC)
		session_stop(s, SMTP_R_SESSION_TIMEOUT);
}

void smtp_session_shutdown(smtp_session_t *s)
{
	if (s->state == SMTP_STATE_COMMIT) {
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
	smtp_io_close(&s->io);
	free(s->helo);
	free(s->in);
	buf_free(&s->out);
	free(s);
}
