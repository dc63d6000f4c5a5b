/* auth_totp.c — time-based one-time passwords (RFC 6238) and their QR codes.
 *
 * Does: make random 160-bit keys (base32, RFC 4648 §6), compute HOTP codes
 * (RFC 4226 §5.3: HMAC-SHA1 with GnuTLS, dynamic truncation, 6 digits) for
 * 30-second steps counted from the epoch (RFC 6238 §4), check a code within
 * one step of now, burn the step that matched so a code works once (RFC
 * 6238 §5.2), build the otpauth:// URI authenticator apps read, and draw it
 * as an SVG QR code with libqrencode.
 * Does not: decide who must use TOTP or store anything but through db.h.
 * Time comes from util_now(), so tests can move the clock.
 */
#include "config.h"

#include <gnutls/crypto.h>
#include <qrencode.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "vellum/auth.h"
#include "vellum/log.h"
#include "vellum/util.h"

static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

static void b32_encode(const uint8_t *p, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		acc = (acc << 8) | p[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	if (bits > 0)
		out[o++] = b32[(acc << (5 - bits)) & 31];
	out[o] = '\0';
}

/* Decodes base32 (case-insensitive, spaces and '=' ignored) into out[max];
 * returns the byte count, or -1 for a bad character or too long a key. */
static long b32_decode(const char *s, uint8_t *out, size_t max)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t o = 0;
	for (; *s; s++) {
		if (*s == ' ' || *s == '=')
			continue;
		char c = (char)(*s >= 'a' && *s <= 'z' ? *s - 32 : *s);
		const char *k = strchr(b32, c);
		if (!k || !c)
			return -1;
		acc = (acc << 5) | (uint32_t)(k - b32);
		bits += 5;
		if (bits >= 8) {
			if (o == max)
				return -1;
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	return (long)o;
}

void auth_totp_secret_new(char out[AUTH_TOTP_B32_LEN + 1])
{
	uint8_t k[AUTH_TOTP_KEY_BYTES];
	if (sodium_init() < 0)
		abort(); /* no randomness: nothing secure can be done */
	randombytes_buf(k, sizeof k);
	b32_encode(k, sizeof k, out);
	sodium_memzero(k, sizeof k);
}

/* Longest key accepted from the database (other authenticators use up to
 * 64-byte keys for SHA-512; ours are 20). */
#define TOTP_KEY_MAX 64

bool auth_totp_code(const char *secret_b32, int64_t step, char out[AUTH_TOTP_DIGITS + 1])
{
	uint8_t key[TOTP_KEY_MAX];
	long klen = secret_b32 ? b32_decode(secret_b32, key, sizeof key) : -1;
	if (klen <= 0)
		return false;
	uint8_t msg[8];
	for (int i = 7; i >= 0; i--) { /* the counter, big-endian (RFC 4226 §5.2) */
		msg[i] = (uint8_t)(step & 0xff);
		step >>= 8;
	}
	uint8_t mac[20];
	int rc = gnutls_hmac_fast(GNUTLS_MAC_SHA1, key, (size_t)klen, msg, sizeof msg, mac);
	sodium_memzero(key, sizeof key);
	if (rc != 0) {
		log_error("auth.totp_hmac", "err=\"%s\"", gnutls_strerror(rc));
		return false;
	}
	/* Dynamic truncation (RFC 4226 §5.3). */
	unsigned off = mac[19] & 0x0f;
	uint32_t bin = ((uint32_t)(mac[off] & 0x7f) << 24) | ((uint32_t)mac[off + 1] << 16) |
	               ((uint32_t)mac[off + 2] << 8) | mac[off + 3];
	snprintf(out, AUTH_TOTP_DIGITS + 1, "%06u", bin % 1000000u);
	return true;
}

bool auth_totp_match(const char *secret_b32, const char *code, int64_t now_us, int64_t *step)
{
	if (!code || strlen(code) != AUTH_TOTP_DIGITS ||
	    strspn(code, "0123456789") != AUTH_TOTP_DIGITS)
		return false;
	int64_t now_step = now_us / UTIL_US_PER_SEC / AUTH_TOTP_STEP;
	bool found = false;
	/* Every step in the window is computed, matched or not, so the time
	 * taken does not say which one matched. */
	for (int64_t d = -AUTH_TOTP_WINDOW; d <= AUTH_TOTP_WINDOW; d++) {
		char want[AUTH_TOTP_DIGITS + 1];
		if (!auth_totp_code(secret_b32, now_step + d, want))
			return false;
		if (sodium_memcmp(want, code, AUTH_TOTP_DIGITS) == 0 && !found) {
			found = true;
			*step = now_step + d;
		}
	}
	return found;
}

auth_status_t auth_totp_verify(db_t *db, const char *user, const char *code)
{
	db_user_t *u = NULL;
	db_status_t dst = db_user_get(db, user, &u);
	if (dst == DB_ENOTFOUND)
		return AUTH_EDENIED;
	if (dst != DB_OK)
		return AUTH_EIO;
	int64_t step = 0;
	bool ok = u->totp_secret && auth_totp_match(u->totp_secret, code, util_now(), &step);
	db_user_free(u);
	if (!ok)
		return AUTH_EDENIED;
	dst = db_user_totp_use(db, user, step);
	if (dst == DB_EEXIST)
		return AUTH_EDENIED; /* that code (or a later one) was used already */
	return dst == DB_OK ? AUTH_OK : AUTH_EIO;
}

/* Percent-encodes s for a URI path or query (RFC 3986 unreserved kept). */
static void uri_escape(buf_t *b, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || strchr("-._~", *p))
			buf_append_byte(b, *p);
		else
			buf_printf(b, "%%%02X", *p);
	}
}

char *auth_totp_uri(const char *issuer, const char *user, const char *secret_b32)
{
	/* Key URI format of Google Authenticator, which every authenticator
	 * app reads: otpauth://totp/ISSUER:ACCOUNT?secret=...&issuer=ISSUER */
	buf_t b = {0};
	buf_append_str(&b, "otpauth://totp/");
	uri_escape(&b, issuer);
	buf_append_byte(&b, ':');
	uri_escape(&b, user);
	buf_printf(&b, "?secret=%s&issuer=", secret_b32);
	uri_escape(&b, issuer);
	buf_printf(&b, "&algorithm=SHA1&digits=%d&period=%d", AUTH_TOTP_DIGITS, AUTH_TOTP_STEP);
	return buf_steal(&b);
}

/* Quiet zone around the symbol, in modules (ISO/IEC 18004 asks for 4). */
#define QR_QUIET 4

char *auth_qr_svg(const char *text)
{
	QRcode *q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	if (!q) {
		log_warn("auth.qr", "err=\"cannot encode %zu bytes\"", strlen(text));
		return NULL;
	}
	int w = q->width, full = w + 2 * QR_QUIET;
	buf_t b = {0};
	buf_printf(&b,
	           "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %d %d\" "
	           "shape-rendering=\"crispEdges\"><rect width=\"%d\" height=\"%d\" "
	           "fill=\"#fff\"/><path fill=\"#000\" d=\"",
	           full, full, full, full);
	/* One path of 1x1 squares; runs of dark modules on a row are merged. */
	for (int y = 0; y < w; y++) {
		for (int x = 0; x < w;) {
			if (!(q->data[y * w + x] & 1)) {
				x++;
				continue;
			}
			int run = 1;
			while (x + run < w && (q->data[y * w + x + run] & 1))
				run++;
			buf_printf(&b, "M%d %dh%dv1h-%dz", x + QR_QUIET, y + QR_QUIET, run, run);
			x += run;
		}
	}
	buf_append_str(&b, "\"/></svg>");
	QRcode_free(q);
	return buf_steal(&b);
}
