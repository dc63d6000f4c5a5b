/* config.h — vellum.conf(5): process settings, parsed over embedded defaults.
 *
 * The embedded defaults (config_defaults_text()) are parsed first, then the
 * file, whose keys override them.  Each [listener "NAME"] starts from the same
 * built-in listener defaults as [smtp] (the listener named "default") and must
 * set `listen`.  [archive "NAME"] sections only seed archives at `vellum init`;
 * when the file has any, the embedded [archive "default"] is dropped.
 *
 * Relative paths (data_dir, master_key_file, tls_*) resolve against the file's
 * directory, or the working directory for the embedded defaults.
 *
 * Errors are one line naming file, line and key, e.g.
 *   vellum.conf:12: unknown key 'lisen' in [smtp]
 */
#ifndef VELLUM_CONFIG_H
#define VELLUM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vellum/util.h"

typedef enum {
	CONFIG_OK = 0,
	CONFIG_EIO,      /* the file cannot be read */
	CONFIG_ESYNTAX,  /* a line that is neither section, key = value nor comment */
	CONFIG_EKEY,     /* unknown section or key, duplicate, missing required key */
	CONFIG_EVALUE,   /* a value that does not parse or is out of range */
} config_status_t;

const char *config_strerror(config_status_t st);

/* The longest configuration line accepted (a long allow list still fits). */
#define CONFIG_LINE_MAX 65536
/* A configuration file larger than this is refused before parsing. */
#define CONFIG_FILE_MAX (4u << 20)

typedef struct config_listener {
	char *name;                 /* "default" for [smtp] */
	char *listen;               /* "127.0.0.1:2525", "[::1]:25"; port 0 = ephemeral */
	char *hostname;             /* greeting and EHLO name */
	uint64_t max_message_size;  /* bytes; advertised in SIZE */
	cidr_t *allow_clients;
	size_t n_allow_clients;
	cidr_t *deny_clients;
	size_t n_deny_clients;
	bool require_tls;
	char *tls_min_version;      /* "1.2" or "1.3" */
	char *tls_cert, *tls_key;   /* absolute paths or NULL */
	bool auth_required;         /* auth = required */
	bool auth_plain_on_loopback;
	unsigned max_connections;
	unsigned max_per_client;
	unsigned max_recipients;
	uint64_t max_line;          /* bytes of one DATA line */
	int64_t idle_timeout;       /* seconds */
	int64_t session_timeout;    /* seconds */
	char **archives;            /* NULL-terminated; empty = any archive */
	size_t narchives;
} config_listener_t;

typedef struct config_archive {
	char *name;
	char **addresses;           /* exact, "*@domain" or "*" */
	size_t naddresses;
	util_duration_t retention;
	char **internal_domains;
	size_t ninternal_domains;
	util_duration_t quiet_alert;
	bool compliance;
} config_archive_t;

typedef struct config {
	char *path;                 /* file as given, or NULL for embedded defaults */
	char *base_dir;             /* where relative paths resolve */
	struct {
		char *data_dir;
		uint64_t segment_max;
		util_duration_t segment_max_age;
		char *master_key_file;
		char *master_key_command;
		uint64_t min_free;
	} storage;
	config_listener_t *listeners;  /* [0] is "default" ([smtp]) */
	size_t nlisteners;
	struct {
		char *listen;
		char *tls_cert, *tls_key;
		cidr_t *metrics_allow;
		size_t n_metrics_allow;
		bool allow_plain_http;
		bool require_totp_for_admin;
		int64_t session_idle;   /* seconds */
		int64_t session_max;    /* seconds */
		int64_t export_ttl;     /* seconds */
	} http;
	config_archive_t *archives;
	size_t narchives;
} config_t;

/* The embedded defaults, as vellum.conf text.  Static. */
const char *config_defaults_text(void);

/* Loads path (NULL: embedded defaults only).  On error returns a status and
 * sets *err to a malloc'd one-line message (caller frees); *out is NULL.
 * On success *out is owned by the caller (config_free). */
config_status_t config_load(const char *path, config_t **out, char **err);
/* Same, from text in memory; `label` stands for the file name in messages and
 * base_dir for relative paths. */
config_status_t config_load_string(const char *text, size_t len, const char *label,
                                   const char *base_dir, config_t **out, char **err);
void config_free(config_t *c);

/* The listener with this name, or NULL. */
const config_listener_t *config_listener_find(const config_t *c, const char *name);

/* Data-dir layout: a malloc'd path under data_dir (caller frees). */
char *config_data_path(const config_t *c, const char *rel);

#endif
