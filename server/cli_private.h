/* cli_private.h — shared by the cli_*.c sub-commands: one way to call the
 * API, whether a server runs (control socket) or not (in-process). */
#ifndef VELLUM_CLI_PRIVATE_H
#define VELLUM_CLI_PRIVATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

#include "vellum/cli.h"
#include "vellum/config.h"

typedef struct cli_ctx cli_ctx_t;

/* Loads the configuration and connects: to the running server's control
 * socket when it holds the data-dir lock, else opens the data dir itself
 * (APP_DIRECT) as cli:<unix user>.  On failure prints "vellum: what: why"
 * and returns NULL. */
cli_ctx_t *cli_ctx_open(const char *config_path, const char *what);
void cli_ctx_close(cli_ctx_t *c);
/* True when talking to a running server. */
bool cli_ctx_remote(const cli_ctx_t *c);

/* One API call.  path is not percent-encoded ("/api/v1/users/erin");
 * query is a NULL-terminated list of key, value pairs (NULL values are
 * skipped); body may be NULL.  *status gets the HTTP status, *out the JSON
 * answer (caller json_decref's; NULL when the answer was not JSON).  False
 * when the call itself failed (printed as "vellum: what: ..."). */
bool cli_call(cli_ctx_t *c, const char *method, const char *path, const char *const *query,
              json_t *body, int *status, json_t **out);

/* POSTs len bytes of a raw message (message/rfc822) to path, streamed (the
 * server never holds it whole); *out gets the JSON answer. */
bool cli_upload(cli_ctx_t *c, const char *path, const char *const *query, const void *data,
                size_t len, int *status, json_t **out);

/* GET path and copy a 200 answer's body to fd as it arrives; other answers
 * are parsed as JSON into *err_json.  False when the call failed. */
bool cli_call_stream(cli_ctx_t *c, const char *path, const char *const *query, int fd,
                     int *status, json_t **err_json);

/* Prints "vellum: what: <the API's error message>" for an error answer and
 * returns the exit status (1). */
int cli_api_error(const char *what, int status, json_t *j);

/* Writes s to f with control characters replaced by '?': mail headers may
 * carry terminal escape sequences. */
void cli_print_safe(FILE *f, const char *s);

/* Reads a new password: --password-stdin (first line of stdin), else a
 * prompt with echo off on a terminal (empty = generate), else NULL to let
 * the server generate one.  Returns a malloc'd string or NULL; *failed is
 * set when reading failed (printed). */
char *cli_read_password(const char *what, const char *user, bool from_stdin, bool *failed);

#endif
