/* web.h — the browser UI's static files, compiled into the binary.
 *
 * web/embed.py turns web/index.html, app.js, style.css, ... into
 * web_assets.c at build time; the HTTP server serves them at `/` without a
 * session (DESIGN.md §5), with the security headers the UI needs.
 */
#ifndef VELLUM_WEB_H
#define VELLUM_WEB_H

#include <stddef.h>

typedef struct web_asset {
	const char *path;          /* URL path, "/app.js" */
	const char *content_type;
	const char *etag;          /* strong ETag, quoted */
	const unsigned char *data;
	size_t len;
} web_asset_t;

/* The asset for a URL path ("/" means "/index.html"), or NULL.  Static. */
const web_asset_t *web_asset_find(const char *path);

#endif
