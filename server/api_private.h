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

/* Handlers (api_session.c, api_search.c, api_messages.c, api_users.c,
 * api_audit.c, api_core.c). */
void api_session_create(api_ctx_t *c);
void api_session_delete(api_ctx_t *c);
void api_search(api_ctx_t *c);
void api_message_get(api_ctx_t *c);
void api_message_raw(api_ctx_t *c);
void api_users_list(api_ctx_t *c);
void api_users_create(api_ctx_t *c);
void api_user_get(api_ctx_t *c);
void api_user_patch(api_ctx_t *c);
void api_audit_list(api_ctx_t *c);

/* Cookie name for this transport (__Host-vellum under TLS). */
const char *api_cookie_name(const api_request_t *r);

#endif
