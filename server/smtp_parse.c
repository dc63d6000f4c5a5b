/* smtp_parse.c — SMTP command lines, MAIL/RCPT paths and ESMTP parameters.
 *
 * Does: split a command line into verb and argument, parse reverse- and
 * forward-paths (RFC 5321 §4.1.2: angle brackets, quoted local parts,
 * address literals, source routes, which are accepted and dropped as
 * §4.1.1.3 allows) and the MAIL parameters we offer: SIZE (RFC 1870),
 * BODY=7BIT|8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531); BDAT sizes (RFC 3030)
 * and AUTH mechanisms and SASL responses (RFC 4954, PLAIN RFC 4616, LOGIN).
 * Every outcome is a row of the reply table.  Does not: keep state or decide policy (limits,
 * routing); that is the session's job.
 *
 * Leniency where journal sources are known to vary and nothing is at risk:
 * spaces after "FROM:"/"TO:", a path without angle brackets, local parts
 * that break RFC 5322 dot-atom rules (".." or a trailing dot).  Strictness
 * where it matters: control bytes, unbalanced brackets or quotes, 8-bit
 * addresses without SMTPUTF8, invalid UTF-8, unknown or repeated parameters.
 */
#include "config.h"

#include <ctype.h>
#include <sodium.h>
#include <string.h>

#include "smtp_private.h"

static const struct {
	const char *verb;
	smtp_cmd_t cmd;
} verbs[] = {
    {"HELO", SMTP_CMD_HELO},
    {"EHLO", SMTP_CMD_EHLO},
    {"MAIL", SMTP_CMD_MAIL},
    {"RCPT", SMTP_CMD_RCPT},
    {"DATA", SMTP_CMD_DATA},
    {"RSET", SMTP_CMD_RSET},
    {"NOOP", SMTP_CMD_NOOP},
    {"QUIT", SMTP_CMD_QUIT},
    {"VRFY", SMTP_CMD_VRFY},
    {"HELP", SMTP_CMD_HELP},
    {"EXPN", SMTP_CMD_EXPN},
    {"BDAT", SMTP_CMD_BDAT},
    {"AUTH", SMTP_CMD_AUTH},
    {"STARTTLS", SMTP_CMD_STARTTLS},
    /* An HTTP client (or a cross-protocol attack through one) is told off
     * at once, as Postfix does, instead of being answered line by line. */
    {"GET", SMTP_CMD_HTTP},
    {"POST", SMTP_CMD_HTTP},
    {"HEAD", SMTP_CMD_HTTP},
    {"PUT", SMTP_CMD_HTTP},
    {"CONNECT", SMTP_CMD_HTTP},
    {"OPTIONS", SMTP_CMD_HTTP},
};

const char *smtp_cmd_name(smtp_cmd_t c)
{
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
		if (verbs[i].cmd == c)
			return verbs[i].verb;
	return "UNKNOWN";
}

static bool is_sp(char c)
{
	return c == ' ' || c == '\t';
}

smtp_cmd_t smtp_cmd_parse(const char *line, size_t n, const char **arg, size_t *argn, bool *bad)
{
	*bad = false;
	*arg = line + n;
	*argn = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)line[i];
		if ((c < 0x20 && c != '\t') || c == 0x7f) {
			*bad = true;
			return SMTP_CMD_UNKNOWN;
		}
	}
	size_t vlen = 0;
	while (vlen < n && !is_sp(line[vlen]))
		vlen++;
	smtp_cmd_t cmd = SMTP_CMD_UNKNOWN;
	for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++) {
		if (strlen(verbs[i].verb) == vlen && !strncasecmp(verbs[i].verb, line, vlen)) {
			cmd = verbs[i].cmd;
			break;
		}
	}
	size_t a = vlen;
	while (a < n && is_sp(line[a]))
		a++;
	size_t e = n;
	while (e > a && is_sp(line[e - 1]))
		e--;
	*arg = line + a;
	*argn = e - a;
	return cmd;
}

/* ---- paths ---- */

/* Bytes that may not appear unquoted in a local part (RFC 5322 specials and
 * space); everything else printable, and UTF-8 under SMTPUTF8, is taken. */
static bool local_special(unsigned char c)
{
	return c <= 0x20 || c == 0x7f || strchr("()<>[]:;@\\,\"", c) != NULL;
}

static bool domain_char(unsigned char c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c >= 0x80;
}

/* Validates "local@domain" (len bytes, no brackets). */
static smtp_reply_id_t check_mailbox(const char *s, size_t len)
{
	size_t i = 0;
	if (len == 0)
		return SMTP_R_ADDR_SYNTAX;
	if (s[0] == '"') {
		for (i = 1; i < len && s[i] != '"'; i++) {
			if (s[i] == '\\') {
				if (++i >= len)
					return SMTP_R_ADDR_SYNTAX;
			}
		}
		if (i >= len)
			return SMTP_R_ADDR_SYNTAX; /* unterminated quoted string */
		i++;
	} else {
		while (i < len && !local_special((unsigned char)s[i]))
			i++;
		if (i == 0)
			return SMTP_R_ADDR_SYNTAX;
	}
	if (i >= len || s[i] != '@')
		return SMTP_R_ADDR_SYNTAX;
	const char *d = s + i + 1;
	size_t dl = len - i - 1;
	if (dl == 0)
		return SMTP_R_ADDR_SYNTAX;
	if (d[0] == '[') {
		/* address literal: "[" printable without brackets or "\" "]" */
		if (dl < 3 || d[dl - 1] != ']')
			return SMTP_R_ADDR_SYNTAX;
		for (size_t k = 1; k + 1 < dl; k++)
			if (d[k] == '[' || d[k] == ']' || d[k] == '\\' || is_sp(d[k]))
				return SMTP_R_ADDR_SYNTAX;
		return SMTP_R_OK;
	}
	if (d[0] == '.' || strstr(d, "..") != NULL)
		return SMTP_R_ADDR_SYNTAX;
	for (size_t k = 0; k < dl; k++)
		if (!domain_char((unsigned char)d[k]))
			return SMTP_R_ADDR_SYNTAX;
	return SMTP_R_OK;
}

/* Parses a path at s[*pos..n): "<...>" (quotes respected) or a bare address
 * up to the next space.  On success path holds the mailbox without the
 * source route; *pos is past the path. */
static smtp_reply_id_t parse_path(const char *s, size_t n, size_t *pos, bool allow_null,
                                  bool postmaster_ok, smtp_path_t *path)
{
	size_t i = *pos, start, end;
	memset(path, 0, sizeof *path);
	if (i < n && s[i] == '<') {
		bool quoted = false;
		start = ++i;
		for (; i < n; i++) {
			if (quoted && s[i] == '\\' && i + 1 < n)
				i++;
			else if (s[i] == '"')
				quoted = !quoted;
			else if (!quoted && s[i] == '>')
				break;
		}
		if (i >= n)
			return SMTP_R_PARAM_SYNTAX; /* no closing '>' */
		end = i++;
	} else {
		start = i;
		while (i < n && !is_sp(s[i]))
			i++;
		end = i;
		if (end == start)
			return SMTP_R_PARAM_SYNTAX;
	}
	*pos = i;
	/* RFC 5321 §4.1.1.3/§C: a source route "@a,@b:" is accepted, ignored. */
	if (end > start && s[start] == '@') {
		const char *colon = memchr(s + start, ':', end - start);
		if (!colon)
			return SMTP_R_ADDR_SYNTAX;
		start = (size_t)(colon - s) + 1;
	}
	size_t len = end - start;
	if (len > SMTP_PATH_MAX)
		return SMTP_R_ADDR_SYNTAX;
	memcpy(path->addr, s + start, len);
	path->addr[len] = '\0';
	path->len = len;
	for (size_t k = 0; k < len; k++)
		if ((unsigned char)path->addr[k] >= 0x80)
			path->non_ascii = true;
	if (len == 0)
		return allow_null ? SMTP_R_OK : SMTP_R_ADDR_SYNTAX;
	/* RFC 5321 §4.1.1.3: "Postmaster" without a domain must be accepted. */
	if (postmaster_ok && len == 10 && !strncasecmp(path->addr, "postmaster", 10))
		return SMTP_R_OK;
	if (path->non_ascii && !util_utf8_valid((const uint8_t *)path->addr, len))
		return SMTP_R_ADDR_SYNTAX;
	return check_mailbox(path->addr, len);
}

/* "FROM:" / "TO:" and the spaces some clients put after the colon. */
static bool skip_prefix(const char *s, size_t n, const char *prefix, size_t *pos)
{
	size_t pl = strlen(prefix);
	if (n < pl || strncasecmp(s, prefix, pl) != 0)
		return false;
	*pos = pl;
	while (*pos < n && is_sp(s[*pos]))
		(*pos)++;
	return true;
}

/* ---- ESMTP parameters (RFC 5321 §4.1.2 esmtp-param) ---- */

static bool keyword_ok(const char *k, size_t n)
{
	if (n == 0 || !isalnum((unsigned char)k[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char)k[i]) && k[i] != '-')
			return false;
	return true;
}

static bool value_ok(const char *v, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		if (c == '=' || c <= 0x20 || c == 0x7f)
			return false;
	}
	return true;
}

/* SIZE=digits: at most 20 digits and no overflow. */
static bool parse_size(const char *v, size_t n, uint64_t *out)
{
	uint64_t x = 0;
	if (n == 0 || n > 20)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return false;
		uint64_t d = (uint64_t)(v[i] - '0');
		if (x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*out = x;
	return true;
}

static smtp_reply_id_t mail_param(const char *k, size_t kn, const char *v, size_t vn,
                                  bool has_value, smtp_mail_params_t *p, unsigned *seen)
{
	if (kn == 4 && !strncasecmp(k, "SIZE", 4)) {
		if ((*seen & 1u) || !has_value || !parse_size(v, vn, &p->size))
			return SMTP_R_PARAM_SYNTAX;
		*seen |= 1u;
		p->has_size = true;
		return SMTP_R_OK;
	}
	if (kn == 4 && !strncasecmp(k, "BODY", 4)) {
		if ((*seen & 2u) || !has_value)
			return SMTP_R_PARAM_SYNTAX;
		*seen |= 2u;
		if (vn == 4 && !strncasecmp(v, "7BIT", 4))
			p->body = SMTP_BODY_7BIT;
		else if (vn == 8 && !strncasecmp(v, "8BITMIME", 8))
			p->body = SMTP_BODY_8BITMIME;
		else
			return SMTP_R_PARAM_UNKNOWN; /* BINARYMIME needs CHUNKING */
		return SMTP_R_OK;
	}
	if (kn == 8 && !strncasecmp(k, "SMTPUTF8", 8)) {
		if ((*seen & 4u) || has_value)
			return SMTP_R_PARAM_SYNTAX;
		*seen |= 4u;
		p->smtputf8 = true;
		return SMTP_R_OK;
	}
	return SMTP_R_PARAM_UNKNOWN;
}

smtp_reply_id_t smtp_parse_mail(const char *arg, size_t n, smtp_path_t *path, smtp_mail_params_t *p)
{
	size_t pos;
	memset(p, 0, sizeof *p);
	if (!skip_prefix(arg, n, "FROM:", &pos))
		return SMTP_R_PARAM_SYNTAX;
	smtp_reply_id_t r = parse_path(arg, n, &pos, true, false, path);
	if (r != SMTP_R_OK)
		return r;
	if (pos < n && !is_sp(arg[pos]))
		return SMTP_R_PARAM_SYNTAX;
	while (pos < n && is_sp(arg[pos]))
		pos++;
	p->text = arg + pos;
	p->textn = n - pos;
	unsigned seen = 0;
	while (pos < n) {
		size_t ks = pos;
		while (pos < n && !is_sp(arg[pos]) && arg[pos] != '=')
			pos++;
		size_t kn = pos - ks, vs = pos, vn = 0;
		bool has_value = pos < n && arg[pos] == '=';
		if (has_value) {
			vs = ++pos;
			while (pos < n && !is_sp(arg[pos]))
				pos++;
			vn = pos - vs;
			if (!value_ok(arg + vs, vn))
				return SMTP_R_PARAM_SYNTAX;
		}
		if (!keyword_ok(arg + ks, kn))
			return SMTP_R_PARAM_SYNTAX;
		r = mail_param(arg + ks, kn, arg + vs, vn, has_value, p, &seen);
		if (r != SMTP_R_OK)
			return r;
		while (pos < n && is_sp(arg[pos]))
			pos++;
	}
	/* RFC 6531 §3.4: a non-ASCII address only in an SMTPUTF8 transaction. */
	if (path->non_ascii && !p->smtputf8)
		return SMTP_R_NEED_UTF8;
	return SMTP_R_OK;
}

smtp_reply_id_t smtp_parse_rcpt(const char *arg, size_t n, bool utf8, smtp_path_t *path)
{
	size_t pos;
	if (!skip_prefix(arg, n, "TO:", &pos))
		return SMTP_R_PARAM_SYNTAX;
	smtp_reply_id_t r = parse_path(arg, n, &pos, false, true, path);
	if (r != SMTP_R_OK)
		return r;
	if (pos < n && !is_sp(arg[pos]))
		return SMTP_R_PARAM_SYNTAX;
	while (pos < n && is_sp(arg[pos]))
		pos++;
	if (pos < n) {
		/* We offer no RCPT parameters (no DSN): a well-formed one is
		 * "not recognized", a malformed one a syntax error. */
		size_t ks = pos;
		while (pos < n && !is_sp(arg[pos]) && arg[pos] != '=')
			pos++;
		return keyword_ok(arg + ks, pos - ks) ? SMTP_R_PARAM_UNKNOWN : SMTP_R_PARAM_SYNTAX;
	}
	if (path->non_ascii && !utf8)
		return SMTP_R_NEED_UTF8;
	return SMTP_R_OK;
}

smtp_reply_id_t smtp_parse_helo(const char *arg, size_t n)
{
	/* RFC 1035 caps a domain at 255 octets; a literal is shorter. */
	if (n == 0 || n > 255)
		return SMTP_R_HELO_SYNTAX;
	for (size_t i = 0; i < n; i++)
		if (is_sp(arg[i]))
			return SMTP_R_HELO_SYNTAX;
	return SMTP_R_OK;
}

/* ---- BDAT (RFC 3030 §2: "BDAT" SP chunk-size [SP end-marker]) ---- */

smtp_reply_id_t smtp_parse_bdat(const char *arg, size_t n, uint64_t *size, bool *last)
{
	size_t i = 0;
	*size = 0;
	*last = false;
	while (i < n && arg[i] >= '0' && arg[i] <= '9')
		i++;
	if (i == 0 || i > SMTP_BDAT_DIGITS_MAX || !parse_size(arg, i, size))
		return SMTP_R_PARAM_SYNTAX;
	if (i == n)
		return SMTP_R_OK;
	if (!is_sp(arg[i]))
		return SMTP_R_PARAM_SYNTAX; /* "12x", "-1", "1.5" */
	while (i < n && is_sp(arg[i]))
		i++;
	if (n - i == 4 && !strncasecmp(arg + i, "LAST", 4)) {
		*last = true;
		return SMTP_R_OK;
	}
	return SMTP_R_PARAM_SYNTAX;
}

/* ---- AUTH (RFC 4954) ---- */

smtp_reply_id_t smtp_parse_auth(const char *arg, size_t n, smtp_sasl_mech_t *mech, const char **ir,
                                size_t *irn)
{
	size_t i = 0;
	*mech = SMTP_SASL_NONE;
	*ir = NULL;
	*irn = 0;
	while (i < n && !is_sp(arg[i]))
		i++;
	if (i == 0)
		return SMTP_R_PARAM_SYNTAX;
	if (i == 5 && !strncasecmp(arg, "PLAIN", 5))
		*mech = SMTP_SASL_PLAIN;
	else if (i == 5 && !strncasecmp(arg, "LOGIN", 5))
		*mech = SMTP_SASL_LOGIN;
	else
		return SMTP_R_AUTH_MECH;
	while (i < n && is_sp(arg[i]))
		i++;
	if (i < n) {
		*ir = arg + i;
		*irn = n - i;
		for (size_t k = i; k < n; k++)
			if (is_sp(arg[k]))
				return SMTP_R_PARAM_SYNTAX;
	}
	return SMTP_R_OK;
}

smtp_reply_id_t smtp_sasl_decode(const char *b64, size_t n, uint8_t *out, size_t cap, size_t *outn)
{
	*outn = 0;
	if (n == 1 && b64[0] == '*')
		return SMTP_R_AUTH_CANCEL;
	if (n == 1 && b64[0] == '=')
		return SMTP_R_OK; /* RFC 4954 §4: an empty initial response */
	/* Base64 of cap bytes is at most 4 * ceil(cap / 3) characters. */
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > cap + 2)
		return SMTP_R_AUTH_BAD64;
	const char *end = NULL;
	int rc =
	    sodium_base642bin(out, cap, b64, n, NULL, outn, &end, sodium_base64_VARIANT_ORIGINAL);
	if (rc != 0 || end != b64 + n)
		return SMTP_R_AUTH_BAD64;
	return SMTP_R_OK;
}

smtp_reply_id_t smtp_sasl_plain_split(const uint8_t *p, size_t n, char user[SMTP_SASL_USER_MAX + 1],
                                      char pass[SMTP_SASL_PASS_MAX + 1])
{
	const uint8_t *z1 = memchr(p, '\0', n);
	if (!z1)
		return SMTP_R_AUTH_BAD64;
	const uint8_t *u = z1 + 1;
	const uint8_t *z2 = memchr(u, '\0', n - (size_t)(u - p));
	if (!z2)
		return SMTP_R_AUTH_BAD64;
	const uint8_t *pw = z2 + 1;
	size_t zn = (size_t)(z1 - p), un = (size_t)(z2 - u), pn = n - (size_t)(pw - p);
	if (un == 0 || un > SMTP_SASL_USER_MAX || pn > SMTP_SASL_PASS_MAX || memchr(pw, '\0', pn))
		return SMTP_R_AUTH_BAD64;
	/* No proxy authorization: the authzid is empty or the user itself. */
	if (zn && (zn != un || memcmp(p, u, un) != 0))
		return SMTP_R_AUTH_FAILED;
	memcpy(user, u, un);
	user[un] = '\0';
	memcpy(pass, pw, pn);
	pass[pn] = '\0';
	return SMTP_R_OK;
}
