/* api_private.h — shared by the api_*.c files: the handler context, the
 * error table's codes, and small helpers.  Not for other modules. */
#ifndef VELLUM_API_PRIVATE_H
#define VELLUM_API_PRIVATE_H

#include "vellum/api.h"
#include "vellum/audit.h"
#include "vellum/auth.h"

typedef enum {
	API_E_BAD_REQUEST = 0,  /* 400 bad_request */
	API_E_BAD_QUERY,        /* 400 bad_query: the search query does not parse */
	API_E_UNAUTHORIZED,     /* 401 unauthorized */
	API_E_FORBIDDEN,        /* 403 forbidden */
	API_E_CSRF,             /* 403 csrf */
	API_E_NOT_FOUND,        /* 404 not_found */
	API_E_METHOD,           /* 405 method_not_allowed */
	API_E_CONFLICT,         /* 409 conflict */
	API_E_TOO_LARGE,        /* 413 payload_too_large */
	API_E_MEDIA_TYPE,       /* 415 unsupported_media_type */
	API_E_THROTTLED,        /* 429 too_many_requests */
	API_E_INTERNAL,         /* 500 internal */
	API_E_UNAVAILABLE,      /* 503 unavailable */
	API_E_TOTP_REQUIRED,    /* 401 totp_required: the login needs the TOTP code */
	API_E_TOTP_ENROL,       /* 403 totp_enrolment_required: enrol before anything else */
	API_E_TLS_REQUIRED,     /* 403 tls_required: plain HTTP from off loopback */
	API_E_RENDER,           /* 500 render_failed: the message renderer failed (hostile mail?) */
} api_err_t;

/* Path parameters one route may capture ("{id}"). */
#define API_PARAMS_MAX 4

typedef struct api_ctx {
	app_t *app;
	const api_request_t *req;
	api_response_t *resp;
	const auth_principal_t *p;       /* NULL on public routes without credentials */
	auth_principal_t *owned;         /* resolved from the request; freed after */
	char *params[API_PARAMS_MAX];    /* owned copies of {..} captures */
	size_t nparams;
} api_ctx_t;

typedef void (*api_handler_fn)(api_ctx_t *c);

/* Error response with printf message. */
void api_error(api_ctx_t *c, api_err_t e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* JSON response; takes a reference to body (json_object) and adds
 * format_version. */
void api_json(api_ctx_t *c, int status, json_t *body);

/* Parses the request body as a JSON object; on failure answers 400/413 and
 * returns NULL.  Caller json_decref's. */
json_t *api_body_object(api_ctx_t *c);

/* Records an audit event as the caller; false (and a 503 answered) when the
 * trail refused it, in which case the caller must not proceed. */
bool api_audit(api_ctx_t *c, const char *action, const char *target, const char *outcome,
               const int64_t *count, json_t *detail);

/* Requires a principal holding any of roles on archive (or, with archive
 * NULL, on "*"); answers 401/403 and returns false otherwise. */
bool api_require(api_ctx_t *c, unsigned roles, const char *archive);

/* Time as RFC 3339 JSON string. */
json_t *api_time(int64_t us);

/* Answers 429 with Retry-After (seconds). */
void api_throttled(api_ctx_t *c, int64_t retry_after, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Parses a non-negative integer query parameter into *out (untouched when
 * absent); answers 400 and returns false when malformed. */
bool api_uint_param(api_ctx_t *c, const char *name, uint64_t *out);

/* JSON string, or null for NULL (or text that is not UTF-8). */
json_t *api_str(const char *s);

/* Grants as [{"role", "archive"}]. */
json_t *api_grants_json(const db_grant_t *g, size_t n);

/* Validates a JSON list of {"role", "archive"} (archive defaults to "*";
 * named archives must exist); answers 400/404 and returns false otherwise.
 * With out non-NULL, the grants are copied into a new array (caller
 * frees). */
bool api_grants_parse(api_ctx_t *c, json_t *list, db_grant_t **out, size_t *n);

/* Handlers (api_session.c, api_search.c, api_messages.c, api_parts.c,
 * api_submit.c, api_users.c, api_totp.c, api_tokens.c, api_audit.c,
 * api_health.c). */
void api_session_create(api_ctx_t *c);
void api_session_get(api_ctx_t *c);
void api_session_delete(api_ctx_t *c);
void api_search(api_ctx_t *c);
void api_message_get(api_ctx_t *c);
void api_message_raw(api_ctx_t *c);
void api_message_body(api_ctx_t *c);
void api_message_part(api_ctx_t *c);
void api_message_submit(api_ctx_t *c);
void api_users_list(api_ctx_t *c);
void api_users_create(api_ctx_t *c);
void api_user_get(api_ctx_t *c);
void api_user_patch(api_ctx_t *c);
void api_user_totp_enrol(api_ctx_t *c);
void api_user_totp_remove(api_ctx_t *c);
void api_tokens_list(api_ctx_t *c);
void api_tokens_create(api_ctx_t *c);
void api_token_revoke(api_ctx_t *c);
void api_audit_list(api_ctx_t *c);
void api_audit_verify(api_ctx_t *c);
void api_healthz(api_ctx_t *c);
void api_metrics(api_ctx_t *c);
void api_openapi(api_ctx_t *c);
/* Message submission in pieces (api_submit.c), for api_upload_* and for
 * api_message_submit with the whole body at hand.  begin answers the error
 * and returns false when the submission is refused. */
bool api_submit_begin(api_ctx_t *c, void **state);
bool api_submit_write(void *state, const void *p, size_t n);
void api_submit_end(api_ctx_t *c, void *state);
void api_submit_abort(void *state);

/* ---- rendering messages, out of process (api_render.c) ---- */
typedef enum {
	RENDER_OK = 0,
	RENDER_ENOTFOUND,  /* no such part, no HTML body, not a journal report */
	RENDER_ETIMEOUT,   /* the budget ran out (hostile input?) */
	RENDER_ECRASH,     /* the renderer died */
	RENDER_EHELPER,    /* the renderer could not run or answered nonsense */
} api_render_status_t;

const char *api_render_strerror(api_render_status_t st);
/* The message detail as JSON (mime.h's render shape; caller json_decref's). */
api_render_status_t api_render_detail(const void *raw, size_t n, json_t **out);
/* The displayable body, text or HTML (UTF-8), appended to out. */
api_render_status_t api_render_body(const void *raw, size_t n, bool html, buf_t *out);
/* Part num's decoded bytes appended to out, with its filename and content
 * type (caller frees both; NULL when unknown). */
api_render_status_t api_render_part(const void *raw, size_t n, unsigned num, buf_t *out,
                                    char **filename, char **content_type);
/* The original inside a journal report, appended to out; *exact when its
 * bytes are exactly as they were journaled. */
api_render_status_t api_render_inner(const void *raw, size_t n, buf_t *out, bool *exact);

/* True when a session must not be used on this connection (plain HTTP from
 * off loopback without allow_plain_http). */
bool api_plain_http_refused(api_ctx_t *c);


/* Search latency histogram (api_search.c observes it). */
#define API_SEARCH_METRIC "vellum_search_seconds"

/* api_store.c (the store's routes) */
void api_verify(api_ctx_t *c);
void api_keys_rotate(api_ctx_t *c);

/* Cookie name for this transport (__Host-vellum under TLS). */
const char *api_cookie_name(const api_request_t *r);

#endif
