/* smtp_private.h — what the SMTP module's files share, and nothing else sees.
 *
 *   smtp_reply.c    the one table of replies (store and policy statuses too)
 *   smtp_parse.c    command lines, MAIL/RCPT paths and parameters (pure)
 *   smtp_data.c     DATA: end-of-data scanner and dot-unstuffing (pure)
 *   smtp_io.c       the transport a session reads and writes through (plain TCP)
 *   smtp_tls.c      the GnuTLS transport STARTTLS switches a session to
 *   smtp_auth.c     the AUTH worker: password checks off the event loop
 *   smtp_session.c  the per-connection state machine (check_* / proceed_*)
 *   smtp_server.c   listeners, the epoll loop, timers, store completions
 *
 * The pure parts are unit-tested directly (tests/unit/test_smtp.c).
 */
#ifndef VELLUM_SMTP_PRIVATE_H
#define VELLUM_SMTP_PRIVATE_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "vellum/app.h"
#include "vellum/ingest.h"
#include "vellum/metrics.h"
#include "vellum/smtp.h"
#include "vellum/store.h"
#include "vellum/util.h"

/* ---- named limits ---- */

/* RFC 5321 §4.5.3.1.4: a command line is at most 512 octets with its CRLF.
 * Longer lines are read to their end, discarded and refused with 500. */
#define SMTP_CMD_MAX 512
/* RFC 5321 §4.5.3.1.3: a path (with its angle brackets) is at most 256
 * octets; we accept up to what fits in a command line, since real journal
 * sources send longer VERP/SRS addresses and the line limit bounds it. */
#define SMTP_PATH_MAX SMTP_CMD_MAX
/* Bytes read from a socket at a time and held per session: room for many
 * pipelined commands; DATA streams through it, so message size never
 * depends on it. 16 KiB x 1000 sessions stays small. */
#define SMTP_INBUF_SIZE 16384
/* Replies waiting for a client that does not read them: past this we stop
 * processing its input (RFC 2920 pipelining must not grow memory without
 * bound). */
#define SMTP_OUTBUF_MAX 65536
/* RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets with CRLF. */
#define SMTP_REPLY_MAX 512
/* Bad commands (syntax or sequence errors) before the session is closed
 * with 421: a client that has lost the protocol stops wasting a slot. */
#define SMTP_ERRORS_MAX 20
/* Reads per readiness event, so one fast sender cannot starve the others. */
#define SMTP_READS_PER_EVENT 8
/* Connections accepted per readiness event of a listener, for the same reason. */
#define SMTP_ACCEPT_BATCH 64
/* How long a session that has been told 421/221 may take to read it and
 * close its end; shorter while the server stops. */
#define SMTP_CLOSE_GRACE_US (5 * UTIL_US_PER_SEC)
#define SMTP_STOP_GRACE_US  (1 * UTIL_US_PER_SEC)
/* Extra output room the DATA scanner may need beyond its input (a CR it held
 * back at the end of the previous chunk). */
#define SMTP_DATA_SLACK 2
/* RFC 4954 §4: an AUTH command and each SASL response line may be up to
 * 12288 octets (a PLAIN response with a long password needs more than 512). */
#define SMTP_AUTH_LINE_MAX 12288
/* Failed AUTH attempts in one session before it is closed with 421; each
 * failure is answered after SMTP_AUTH_DELAY_S seconds per failure so far
 * (password guessing costs the guesser time, not us: the session waits on a
 * timer, the loop goes on). */
#define SMTP_AUTH_FAILURES_MAX 3
#define SMTP_AUTH_DELAY_S      1
/* Password checks queued for the AUTH worker (Argon2id takes ~0.1 s and
 * 64 MiB each); past this AUTH answers 454 4.7.0 and the client retries. */
#define SMTP_AUTH_QUEUE_MAX 64
/* Longest BDAT size accepted in the command (20 digits fit in uint64). */
#define SMTP_BDAT_DIGITS_MAX 20

/* ---- replies: the one table (smtp_reply.c) ---- */

typedef enum {
	SMTP_R_OK = 0,              /* 250 2.0.0 */
	SMTP_R_SENDER_OK,           /* 250 2.1.0 */
	SMTP_R_RCPT_OK,             /* 250 2.1.5 */
	SMTP_R_STORED,              /* 250 2.0.0 + ids */
	SMTP_R_GREETING,            /* 220 */
	SMTP_R_BYE,                 /* 221 2.0.0 */
	SMTP_R_HELP,                /* 214 2.0.0 */
	SMTP_R_VRFY,                /* 252 2.5.0 */
	SMTP_R_DATA_GO,             /* 354 */
	SMTP_R_SHUTDOWN,            /* 421 4.3.2 */
	SMTP_R_TOO_MANY_CONN,       /* 421 4.7.0 */
	SMTP_R_TOO_MANY_PER_CLIENT, /* 421 4.7.0 */
	SMTP_R_TOO_MANY_ERRORS,     /* 421 4.7.0 */
	SMTP_R_NOT_SMTP,            /* 421 4.7.0 (an HTTP request) */
	SMTP_R_IDLE_TIMEOUT,        /* 421 4.4.2 */
	SMTP_R_SESSION_TIMEOUT,     /* 421 4.4.2 */
	SMTP_R_STORE_IO,            /* 451 4.3.0 */
	SMTP_R_STORE_FAILED,        /* 451 4.3.0 */
	SMTP_R_STORE_BUSY,          /* 451 4.3.0 */
	SMTP_R_STORE_OTHER,         /* 451 4.3.0 */
	SMTP_R_STORE_GONE,          /* 451 4.3.0: an archive vanished: retry re-routes */
	SMTP_R_STORE_SHUTDOWN,      /* 421 4.3.2 */
	SMTP_R_NO_SPACE,            /* 452 4.3.1 */
	SMTP_R_TOO_MANY_RCPT,       /* 452 4.5.3 */
	SMTP_R_UNKNOWN_CMD,         /* 500 5.5.1 */
	SMTP_R_SYNTAX,              /* 500 5.5.2 */
	SMTP_R_LINE_TOO_LONG,       /* 500 5.5.2 */
	SMTP_R_PARAM_SYNTAX,        /* 501 5.5.4 */
	SMTP_R_HELO_SYNTAX,         /* 501 5.5.4 */
	SMTP_R_NO_ARGS,             /* 501 5.5.4: the command takes no argument */
	SMTP_R_NOT_IMPL,            /* 502 5.5.1 */
	SMTP_R_BAD_SEQ,             /* 503 5.5.1 */
	SMTP_R_NEED_HELO,           /* 503 5.5.1 */
	SMTP_R_NESTED_MAIL,         /* 503 5.5.1 */
	SMTP_R_NEED_MAIL,           /* 503 5.5.1 */
	SMTP_R_ONLY_QUIT,           /* 503 5.5.1: after a 554 greeting */
	SMTP_R_NO_RCPT,             /* 554 5.5.1 */
	SMTP_R_RCPT_UNKNOWN,        /* 550 5.1.1 */
	SMTP_R_TOO_BIG,             /* 552 5.3.4 */
	SMTP_R_LONG_LINE,           /* 554 5.6.0: a data line over max_line */
	SMTP_R_ADDR_SYNTAX,         /* 501 5.1.3 */
	SMTP_R_NEED_UTF8,           /* 553 5.6.7 */
	SMTP_R_DENIED,              /* 554 5.7.1 (greeting) */
	SMTP_R_PARAM_UNKNOWN,       /* 555 5.5.4 */
	SMTP_R_CHUNK_OK,            /* 250 2.0.0 + octets (BDAT, not LAST) */
	SMTP_R_TLS_GO,              /* 220 2.0.0 */
	SMTP_R_TLS_ACTIVE,          /* 503 5.5.1 */
	SMTP_R_NEED_TLS,            /* 530 5.7.0 */
	SMTP_R_NEED_AUTH,           /* 530 5.7.0 */
	SMTP_R_AUTH_OK,             /* 235 2.7.0 */
	SMTP_R_AUTH_NEED_TLS,       /* 538 5.7.11 */
	SMTP_R_AUTH_MECH,           /* 504 5.5.4 */
	SMTP_R_AUTH_ALREADY,        /* 503 5.5.1 */
	SMTP_R_AUTH_BAD64,          /* 501 5.5.2 */
	SMTP_R_AUTH_CANCEL,         /* 501 5.7.0 */
	SMTP_R_AUTH_FAILED,         /* 535 5.7.8 */
	SMTP_R_AUTH_TEMP,           /* 454 4.7.0 */
	SMTP_R_AUTH_TOO_MANY,       /* 421 4.7.0 */
	SMTP_R_RCPT_FORBIDDEN,      /* 550 5.7.1: the AUTH identity may not feed it */
	SMTP_R__COUNT
} smtp_reply_id_t;

typedef struct smtp_reply {
	smtp_reply_id_t id;
	unsigned code;        /* 250, 451, ... */
	const char *enhanced; /* "4.3.0", or NULL where RFC 3463 has none (220, 354) */
	const char *text;
	bool closes;      /* the server closes the connection after it (421) */
	int store_status; /* the store_status_t this row answers, or -1 */
} smtp_reply_t;

/* The row for id (static). */
const smtp_reply_t *smtp_reply_get(smtp_reply_id_t id);
/* The reply for a store status (every status has exactly one row; STORE_OK
 * gives SMTP_R_STORED). */
smtp_reply_id_t smtp_reply_for_store(store_status_t st);
/* Appends "CODE ENH [host ]text[: extra]\r\n" to out.  host (may be NULL)
 * is our name, as RFC 5321 §4.2 wants it in 220 and 421 replies; extra (may
 * be NULL) is cleaned of control bytes and cut so the line stays within
 * SMTP_REPLY_MAX.  No row needs a multi-line text. */
void smtp_reply_format(buf_t *out, smtp_reply_id_t id, const char *host, const char *extra);
/* Static text naming the id ("SMTP_R_TOO_BIG"), for logs and tests. */
const char *smtp_reply_name(smtp_reply_id_t id);

/* ---- commands (smtp_parse.c) ---- */

typedef enum {
	SMTP_CMD_UNKNOWN = 0,
	SMTP_CMD_HELO,
	SMTP_CMD_EHLO,
	SMTP_CMD_MAIL,
	SMTP_CMD_RCPT,
	SMTP_CMD_DATA,
	SMTP_CMD_RSET,
	SMTP_CMD_NOOP,
	SMTP_CMD_QUIT,
	SMTP_CMD_VRFY,
	SMTP_CMD_HELP,
	SMTP_CMD_EXPN, /* known, not offered */
	SMTP_CMD_BDAT,
	SMTP_CMD_STARTTLS,
	SMTP_CMD_AUTH,
	SMTP_CMD_HTTP, /* GET/POST/...: not an SMTP client */
	SMTP_CMD__COUNT
} smtp_cmd_t;

/* Parses one command line (without its line ending).  Returns the verb
 * (case-insensitive), and in *arg and *argn what follows the verb and its spaces
 * it (empty when none).  SMTP_CMD_UNKNOWN for an unknown verb; *bad is set
 * when the line holds bytes no command may contain (NUL, CR, other control
 * bytes except TAB). */
smtp_cmd_t smtp_cmd_parse(const char *line, size_t n, const char **arg, size_t *argn, bool *bad);
const char *smtp_cmd_name(smtp_cmd_t c);

typedef enum { SMTP_BODY_NONE = 0, SMTP_BODY_7BIT, SMTP_BODY_8BITMIME } smtp_body_t;

/* A reverse- or forward-path: the mailbox without <> and without a source
 * route, NUL-terminated (no NULs inside: command lines cannot hold them). */
typedef struct smtp_path {
	char addr[SMTP_PATH_MAX + 1];
	size_t len;
	bool non_ascii;
} smtp_path_t;

typedef struct smtp_mail_params {
	bool has_size;
	uint64_t size;
	smtp_body_t body;
	bool smtputf8;
	const char *text; /* the parameters as sent, into the argument */
	size_t textn;
} smtp_mail_params_t;

/* "FROM:<path> params" (arg of MAIL).  Returns SMTP_R_OK or the reply to
 * give: PARAM_SYNTAX, ADDR_SYNTAX, NEED_UTF8, PARAM_UNKNOWN. */
smtp_reply_id_t smtp_parse_mail(const char *arg, size_t n, smtp_path_t *path,
                                smtp_mail_params_t *p);
/* "TO:<path>" (arg of RCPT).  utf8: the transaction declared SMTPUTF8.  RCPT
 * parameters are not offered (no DSN): any gives PARAM_UNKNOWN. */
smtp_reply_id_t smtp_parse_rcpt(const char *arg, size_t n, bool utf8, smtp_path_t *path);
/* The EHLO/HELO argument: a domain or an address literal, leniently (any
 * printable token).  Returns SMTP_R_OK or HELO_SYNTAX. */
smtp_reply_id_t smtp_parse_helo(const char *arg, size_t n);

/* "size [LAST]" (arg of BDAT, RFC 3030 §2): decimal size without sign, at
 * most SMTP_BDAT_DIGITS_MAX digits and no overflow; LAST case-insensitive.
 * Returns SMTP_R_OK or PARAM_SYNTAX (then nothing is known about the chunk
 * and no bytes can be consumed). */
smtp_reply_id_t smtp_parse_bdat(const char *arg, size_t n, uint64_t *size, bool *last);

typedef enum { SMTP_SASL_NONE = 0, SMTP_SASL_PLAIN, SMTP_SASL_LOGIN } smtp_sasl_mech_t;
/* "MECH [initial-response]" (arg of AUTH, RFC 4954 §4).  *ir points into
 * arg (NULL when absent; "=" means an empty initial response).  Returns OK,
 * PARAM_SYNTAX or AUTH_MECH. */
smtp_reply_id_t smtp_parse_auth(const char *arg, size_t n, smtp_sasl_mech_t *mech, const char **ir,
                                size_t *irn);
/* Longest user name and password a SASL response may carry. */
#define SMTP_SASL_USER_MAX 255
#define SMTP_SASL_PASS_MAX 1024
/* Decodes one base64 SASL response (RFC 4648 with padding; "=" is empty)
 * into out (cap bytes).  Returns OK, AUTH_CANCEL for "*", AUTH_BAD64. */
smtp_reply_id_t smtp_sasl_decode(const char *b64, size_t n, uint8_t *out, size_t cap, size_t *outn);
/* Splits a decoded PLAIN response "authzid NUL authcid NUL passwd"
 * (RFC 4616) into user and pass (NUL-terminated).  An authzid other than
 * empty or the authcid itself is refused (no proxy authorization).  Returns
 * OK or AUTH_BAD64 (malformed) or AUTH_FAILED (authzid). */
smtp_reply_id_t smtp_sasl_plain_split(const uint8_t *p, size_t n, char user[SMTP_SASL_USER_MAX + 1],
                                      char pass[SMTP_SASL_PASS_MAX + 1]);

/* ---- DATA (smtp_data.c) ---- */

/* Streaming end-of-data scanner and dot-unstuffer (RFC 5321 §4.5.2).  A line
 * is what ends in CRLF; DATA ends only at CRLF "." CRLF (the first CRLF may be
 * the one that ended the DATA command).  A bare LF or bare CR is message data
 * (flagged), never a line end: "\n.\n", "\r.\r", "\r\n.\n", "\n.\r\n" do not
 * end the data, so no second transaction can be smuggled inside one.  A
 * leading "." on a line is removed (stuffing). */
typedef struct smtp_data {
	int state;
	uint32_t flags;    /* STORE_ENV_BARE_LF | STORE_ENV_BARE_CR seen */
	uint64_t line;     /* octets of the current line so far */
	uint64_t max_line; /* longest line allowed (max_line), 0 = no limit */
	bool long_line;    /* a line exceeded max_line */
} smtp_data_t;

void smtp_data_init(smtp_data_t *d, uint64_t max_line);
/* Scans in[0..n): writes message bytes to out (room for n + SMTP_DATA_SLACK)
 * and their count to *outn; returns how many input bytes it consumed.  Sets
 * *done when the end-of-data line was consumed; input after it is left for
 * the next command. */
size_t smtp_data_scan(smtp_data_t *d, const uint8_t *in, size_t n, uint8_t *out, size_t *outn,
                      bool *done);

/* BDAT chunks are stored as sent (no stuffing, no terminator); this only
 * notices bare LF and bare CR across chunk boundaries, for the envelope.
 * *prev_cr carries "the last byte so far was a CR" from call to call;
 * smtp_bdat_flags_end settles a CR at the very end of the message. */
uint32_t smtp_bdat_flags(bool *prev_cr, const uint8_t *p, size_t n);
uint32_t smtp_bdat_flags_end(bool prev_cr);

/* ---- transport (smtp_io.c, smtp_tls.c) ----
 * Sessions read and write through this, so STARTTLS can switch the socket
 * to TLS without the state machine knowing. */
typedef struct smtp_io smtp_io_t;
typedef struct smtp_io_ops {
	/* > 0 bytes, 0 at end of stream, -1 with errno (EAGAIN: try later). */
	ssize_t (*read)(smtp_io_t *io, void *buf, size_t n);
	ssize_t (*write)(smtp_io_t *io, const void *buf, size_t n);
	/* Ends our direction (TLS: close_notify first); reading goes on. */
	void (*shutdown)(smtp_io_t *io);
	/* Releases the layer's state; the fd is closed by smtp_io_close. */
	void (*release)(smtp_io_t *io);
	/* Bytes already decrypted and buffered inside the layer, which no
	 * epoll event will announce (TLS); 0 for plain TCP. */
	size_t (*pending)(smtp_io_t *io);
} smtp_io_ops_t;

struct smtp_io {
	const smtp_io_ops_t *ops;
	int fd;
	void *layer; /* the TLS session; NULL for plain TCP */
};

void smtp_io_plain(smtp_io_t *io, int fd);
void smtp_io_close(smtp_io_t *io);

/* A listener's TLS credentials and priorities (smtp_tls.c). */
typedef struct smtp_tls smtp_tls_t;
/* Loads cert and key (PEM files) and builds the priority string for
 * min_version ("1.2": TLS 1.2 and 1.3; "1.3": 1.3 only).  Logs and returns
 * NULL on failure.  Caller frees with smtp_tls_free. */
smtp_tls_t *smtp_tls_new(const char *listener, const char *cert, const char *key,
                         const char *min_version);
void smtp_tls_free(smtp_tls_t *t);
/* Switches io to a server-side TLS session over the same fd; the handshake
 * is then driven by smtp_io_handshake.  False (logged) if GnuTLS cannot set
 * up a session; io is unchanged then. */
bool smtp_io_start_tls(smtp_io_t *io, smtp_tls_t *t);
/* One step of the handshake: 1 done, 0 would block (*want = EPOLLIN or
 * EPOLLOUT), -1 failed (why in err, static text). */
int smtp_io_handshake(smtp_io_t *io, uint32_t *want, const char **err);
/* After the handshake: the protocol ("TLS1.3") and cipher suite
 * ("TLS_AES_256_GCM_SHA384"), static or owned by GnuTLS: copy them. */
const char *smtp_io_tls_version(smtp_io_t *io);
const char *smtp_io_tls_cipher(smtp_io_t *io);

/* ---- server and session (smtp_server.c, smtp_session.c) ---- */

typedef enum {
	SMTP_EV_LISTENER = 1,
	SMTP_EV_SESSION,
	SMTP_EV_QUEUE,
	SMTP_EV_WAKE,
	SMTP_EV_AUTH
} smtp_ev_kind_t;

typedef struct smtp_session smtp_session_t;

/* What a counted reply answered. */
typedef enum {
	SMTP_COUNT_MESSAGE = 0, /* the final answer to a message (end of DATA, DATA refused) */
	SMTP_COUNT_ENVELOPE,    /* a refused MAIL or RCPT */
	SMTP_COUNT_CONNECTION,  /* a refused connection (421 at the limits, 554 denied) */
	SMTP_COUNT__N
} smtp_count_t;

/* What one listener has fed one archive (listener x archive), for
 * /metrics and silent-feed alerts.  Appended to the listener's list on the
 * SMTP thread under the server's feeds_lock, never removed; the numbers are
 * atomics so other threads may read them (smtp_server_feeds). */
typedef struct smtp_feed {
	struct smtp_feed *next;
	char *archive;
	_Atomic int64_t last_received; /* us since the epoch, 0 = never */
	_Atomic uint64_t accepted, rejected;
	metric_t *m_last;
	metric_t *m_by_reply[SMTP_R__COUNT]; /* looked up lazily */
} smtp_feed_t;

typedef struct smtp_listener {
	smtp_ev_kind_t kind; /* SMTP_EV_LISTENER, first: epoll data */
	size_t index;
	struct smtp_server *srv;
	const config_listener_t *cfg;
	int fd;
	struct sockaddr_storage addr; /* actual bound address */
	socklen_t addrlen;
	unsigned nsessions;
	ingest_routes_t *routes;
	smtp_tls_t *tls; /* NULL: no STARTTLS on this listener */
	bool paused;     /* accept stopped after EMFILE */
	smtp_feed_t *feeds;
	_Atomic int64_t last_received;
	metrics_t *metrics;
	metric_t *m_sessions, *m_bytes, *m_last;
	metric_t *m_commit;  /* seconds from end of data to the store's answer */
	metric_t *m_auth[3]; /* ok, failed, error */
	metric_t *m_tls[2];  /* ok, failed */
	metric_t *m_replies[SMTP_COUNT__N][SMTP_R__COUNT]; /* by reply, looked up lazily */
} smtp_listener_t;

typedef struct smtp_client smtp_client_t;
struct smtp_auth_job;

struct smtp_server {
	app_t *app;
	smtp_opts_t opts;
	int epfd;
	int wakefd;
	smtp_ev_kind_t wake_kind, queue_kind;
	store_queue_t *queue;
	smtp_listener_t *listeners;
	size_t nlisteners;
	smtp_session_t *sessions; /* doubly linked */
	size_t nsessions;
	size_t pending;          /* commits handed to the store, not yet completed */
	smtp_client_t **clients; /* per-client counts, chained hash */
	size_t nbuckets;
	uint64_t routes_gen;
	uint64_t next_session_id;
	int64_t routes_retry_at;   /* after a failed refresh, not before this */
	smtp_session_t *graveyard; /* closed, freed after the event batch */
	uint8_t *scratch;          /* DATA output, SMTP_INBUF_SIZE + SMTP_DATA_SLACK */
	struct smtp_auth *auth;    /* password checks; NULL without a database */
	smtp_ev_kind_t auth_kind;
	size_t auth_pending;   /* checks handed to the worker, not yet answered */
	smtp_session_t *again; /* sessions with input buffered inside TLS */
	pthread_mutex_t feeds_lock;
	_Atomic int stop;
	bool stopping; /* shutdown under way in the loop */
	metric_t *m_active;
};

/* smtp_server.c, for sessions */
/* Current routes of a listener, refreshed first if app->archives_gen moved. */
const ingest_routes_t *smtp_server_routes(smtp_server_t *srv, smtp_listener_t *l);
/* (Re)registers the session's fd for events. */
void smtp_server_watch(smtp_server_t *srv, smtp_session_t *s, uint32_t events);
/* Unlinks and frees a session (closes its fd, releases its client slot). */
void smtp_server_session_free(smtp_server_t *srv, smtp_session_t *s);
/* Counts a reply on listener l, by code. */
void smtp_server_count_reply(smtp_listener_t *l, smtp_reply_id_t id, smtp_count_t what);
/* The name we give in greetings and 421s. */
static inline const char *smtp_listener_hostname(const smtp_listener_t *l)
{
	return l->cfg->hostname ? l->cfg->hostname : "localhost";
}
/* Counts the final answer to a message for each archive it was for (250:
 * accepted, and the last-received time moves; anything else: rejected). */
void smtp_server_count_archive(smtp_listener_t *l, const char *archive, smtp_reply_id_t id);
/* Asks the loop to drive the session again before it next sleeps (input is
 * buffered where epoll cannot see it). */
void smtp_server_again(smtp_server_t *srv, smtp_session_t *s);
/* Hands a password check to the AUTH worker; false when it is full. */
bool smtp_server_auth_submit(smtp_server_t *srv, struct smtp_auth_job *j);

/* ---- the AUTH worker (smtp_auth.c) ----
 * Argon2id verification takes ~0.1 s of CPU and 64 MiB: never on the event
 * loop.  One worker thread takes jobs in order and posts results to an
 * eventfd the loop watches.  The worker also writes the audit record of the
 * attempt (DESIGN.md invariant 7: every login, ok or failed). */
typedef enum {
	SMTP_AUTH_RES_OK = 0, /* password right and the user has the ingest role */
	SMTP_AUTH_RES_DENIED, /* wrong user or password, disabled, or no ingest role */
	SMTP_AUTH_RES_ERROR,  /* database or audit trail failed: try again later */
} smtp_auth_result_t;

struct auth_principal;
typedef struct smtp_auth_job {
	struct smtp_auth_job *next;
	smtp_session_t *session; /* the session waits in AUTH_WAIT until the result */
	char user[SMTP_SASL_USER_MAX + 1];
	char pass[SMTP_SASL_PASS_MAX + 1]; /* wiped once checked */
	char client[64];
	const char *listener; /* owned by the configuration */
	const char *mech;     /* static */
	smtp_auth_result_t result;
	struct auth_principal *principal; /* on OK; the session takes it */
} smtp_auth_job_t;

typedef struct smtp_auth smtp_auth_t;
/* Starts the worker over app->db and app->audit (audit may be NULL: no
 * records).  NULL (logged) when the thread cannot start. */
smtp_auth_t *smtp_auth_new(app_t *app);
int smtp_auth_fd(const smtp_auth_t *a);
/* Queues a job (taken over); false when SMTP_AUTH_QUEUE_MAX are waiting. */
bool smtp_auth_submit(smtp_auth_t *a, smtp_auth_job_t *j);
/* A finished job (caller frees with smtp_auth_job_free) or NULL. */
smtp_auth_job_t *smtp_auth_pop(smtp_auth_t *a);
/* Wipes the password and frees (the principal too, if still there). */
void smtp_auth_job_free(smtp_auth_job_t *j);
/* Stops the worker after the queued jobs; frees.  NULL is fine. */
void smtp_auth_free(smtp_auth_t *a);

/* ---- sessions (smtp_session.c) ---- */

typedef enum {
	SMTP_STATE_INIT = 0,   /* greeted; waiting for EHLO/HELO */
	SMTP_STATE_REJECTED,   /* greeted with 554 (RFC 5321 §3.1): only QUIT */
	SMTP_STATE_HELO,       /* identified; no transaction */
	SMTP_STATE_MAIL,       /* MAIL accepted, no recipient yet */
	SMTP_STATE_RCPT,       /* at least one recipient accepted */
	SMTP_STATE_BDAT,       /* BDAT chunks arriving (between chunks: only BDAT/RSET) */
	SMTP_STATE_DATA,       /* message data streaming into the store */
	SMTP_STATE_COMMIT,     /* data complete, waiting for the store's completion */
	SMTP_STATE_TLS_START,  /* "220 Ready to start TLS" queued, not yet written */
	SMTP_STATE_TLS,        /* TLS handshake under way */
	SMTP_STATE_AUTH_WAIT,  /* the AUTH worker checks the password */
	SMTP_STATE_AUTH_DELAY, /* AUTH failed; the 535 is held back a while */
	SMTP_STATE_CLOSING,    /* final reply queued; closed once it is written */
} smtp_state_t;

/* One mail transaction (MAIL .. end of data). */
typedef struct smtp_tx {
	char *mail_from;   /* "" for the null sender */
	char *mail_params; /* as sent, NULL when none */
	uint32_t flags;    /* STORE_ENV_* */
	char **rcpt;       /* accepted forward-paths */
	size_t nrcpt, rcpt_cap;
	char **archives; /* union of the recipients' archives (copies) */
	size_t narchives, archives_cap;
	store_append_t *append; /* from DATA until commit/abort */
	smtp_data_t data;
	uint64_t size;        /* message bytes after unstuffing */
	smtp_reply_id_t fail; /* first failure while data arrived; OK if none */
	bool bdat_cr;         /* BDAT: the last byte so far was a CR */
} smtp_tx_t;

/* A BDAT chunk being read (RFC 3030): its bytes are consumed whatever the
 * answer will be, so the session stays in step with a pipelining client. */
typedef struct smtp_chunk {
	bool active;
	bool last;
	bool store; /* into the transaction's append (else discarded) */
	uint64_t size, left;
	smtp_reply_id_t refuse; /* the answer when not stored */
} smtp_chunk_t;

struct smtp_session {
	smtp_ev_kind_t kind; /* SMTP_EV_SESSION, first: epoll data */
	smtp_server_t *srv;
	smtp_listener_t *lst;
	smtp_client_t *client; /* per-client count slot (server's) */
	smtp_session_t *prev, *next;
	uint64_t id;
	smtp_io_t io;
	smtp_state_t state;
	char addr[64]; /* numeric client address */
	int port;
	bool loopback;
	char *helo;
	bool esmtp;
	/* TLS (after STARTTLS) */
	bool tls;
	char *tls_version, *tls_cipher;
	uint32_t tls_want; /* the handshake waits for this epoll event */
	/* AUTH */
	smtp_sasl_mech_t sasl; /* an exchange is under way: the next line is a response */
	char *sasl_user;       /* LOGIN: the user name, once given */
	struct auth_principal *principal;
	unsigned auth_failures;
	int64_t reply_at; /* AUTH_DELAY: when to answer (monotonic us) */
	smtp_reply_id_t delayed;
	smtp_chunk_t chunk;
	bool again; /* on the server's again list */
	smtp_session_t *again_next;
	uint8_t *in; /* SMTP_INBUF_SIZE */
	size_t in_r, in_w;
	bool discarding; /* inside an over-long command line */
	buf_t out;
	size_t out_off; /* written part of out */
	smtp_tx_t tx;
	int64_t started, last_input, closing_since; /* monotonic us */
	int64_t commit_at;                          /* data complete, handed to the store */
	unsigned errors;
	bool eof;        /* the client finished sending */
	bool dead;       /* the connection is unusable */
	bool shutdown;   /* server stopping: 421 after the pending answer */
	bool shut_wr;    /* our side half-closed; draining the client's */
	uint32_t events; /* registered epoll events */
	bool watched;
	bool zombie; /* closed; freed after the current event batch */
};

smtp_session_t *smtp_session_new(smtp_server_t *srv, smtp_listener_t *l, int fd,
                                 const struct sockaddr *peer, smtp_client_t *client,
                                 smtp_reply_id_t refuse);
/* Handles readiness of the session's socket. */
void smtp_session_on_io(smtp_session_t *s, uint32_t events);
/* Handles the store's completion of this session's commit (takes c). */
void smtp_session_on_commit(smtp_session_t *s, store_completion_t *c);
/* Handles the AUTH worker's answer (takes j). */
void smtp_session_on_auth(smtp_session_t *s, smtp_auth_job_t *j);
/* Timers: called about once a second with the monotonic time. */
void smtp_session_tick(smtp_session_t *s, int64_t now);
/* Server shutdown: say 421 and close (after a pending commit's answer). */
void smtp_session_shutdown(smtp_session_t *s);
/* Frees the session's own state (the server unlinks it first). */
void smtp_session_free(smtp_session_t *s);

#endif
