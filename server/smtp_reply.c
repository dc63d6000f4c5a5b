/* smtp_reply.c — the one table of SMTP replies.
 *
 * Does: map every outcome the SMTP side can report — protocol errors, policy
 * refusals and every store status — to a reply code, an RFC 3463 enhanced
 * status code and a text, in one place, and format reply lines.  Does not:
 * decide which outcome applies (the session's check_* functions do).
 *
 * Codes follow RFC 5321 §4.2 and §4.3.2: 4xx makes a journal source retry
 * (store trouble, shutdown, limits that clear), 5xx makes it bounce (for
 * Exchange, an undeliverable journal report), so 5xx is kept for what a retry
 * cannot fix.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "smtp_private.h"

#define NOSTORE (-1)

/* In smtp_reply_id_t order (checked by smtp_reply_get and the unit test). */
static const smtp_reply_t replies[SMTP_R__COUNT] = {
    {SMTP_R_OK, 250, "2.0.0", "OK", false, NOSTORE},
    {SMTP_R_SENDER_OK, 250, "2.1.0", "Sender OK", false, NOSTORE},
    {SMTP_R_RCPT_OK, 250, "2.1.5", "Recipient OK", false, NOSTORE},
    {SMTP_R_STORED, 250, "2.0.0", "Stored", false, STORE_OK},
    {SMTP_R_GREETING, 220, NULL, "ESMTP Vellum", false, NOSTORE},
    {SMTP_R_BYE, 221, "2.0.0", "Bye", true, NOSTORE},
    {SMTP_R_HELP, 214, "2.0.0",
     "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP", false,
     NOSTORE},
    {SMTP_R_VRFY, 252, "2.5.0", "Cannot verify, but will accept the message", false, NOSTORE},
    {SMTP_R_DATA_GO, 354, NULL, "End data with <CR><LF>.<CR><LF>", false, NOSTORE},
    {SMTP_R_SHUTDOWN, 421, "4.3.2", "Service shutting down, try again later", true, NOSTORE},
    {SMTP_R_TOO_MANY_CONN, 421, "4.7.0", "Too many connections, try again later", true, NOSTORE},
    {SMTP_R_TOO_MANY_PER_CLIENT, 421, "4.7.0",
     "Too many connections from your address, try again later", true, NOSTORE},
    {SMTP_R_TOO_MANY_ERRORS, 421, "4.7.0", "Too many errors, closing", true, NOSTORE},
    {SMTP_R_NOT_SMTP, 421, "4.7.0", "This is an SMTP server, closing", true, NOSTORE},
    {SMTP_R_IDLE_TIMEOUT, 421, "4.4.2", "Idle timeout, closing", true, NOSTORE},
    {SMTP_R_SESSION_TIMEOUT, 421, "4.4.2", "Session time limit reached, closing", true, NOSTORE},
    {SMTP_R_STORE_IO, 451, "4.3.0", "Local storage error, try again later", false, STORE_EIO},
    {SMTP_R_STORE_FAILED, 451, "4.3.0", "Storage unavailable, try again later", false,
     STORE_EFAILED},
    {SMTP_R_STORE_BUSY, 451, "4.3.0", "Server busy, try again later", false, STORE_EBUSY},
    {SMTP_R_STORE_OTHER, 451, "4.3.0", "Temporary local problem, try again later", false, NOSTORE},
    {SMTP_R_STORE_GONE, 451, "4.3.0", "Archive changed during delivery, try again", false,
     STORE_ENOTFOUND},
    {SMTP_R_STORE_SHUTDOWN, 421, "4.3.2", "Service shutting down, try again later", true,
     STORE_ESHUTDOWN},
    {SMTP_R_NO_SPACE, 452, "4.3.1", "Insufficient storage, try again later", false, STORE_ENOSPC},
    {SMTP_R_TOO_MANY_RCPT, 452, "4.5.3", "Too many recipients", false, NOSTORE},
    {SMTP_R_UNKNOWN_CMD, 500, "5.5.1", "Command unrecognized", false, NOSTORE},
    {SMTP_R_SYNTAX, 500, "5.5.2", "Syntax error", false, NOSTORE},
    {SMTP_R_LINE_TOO_LONG, 500, "5.5.2", "Line too long", false, NOSTORE},
    {SMTP_R_PARAM_SYNTAX, 501, "5.5.4", "Syntax error in parameters or arguments", false, NOSTORE},
    {SMTP_R_HELO_SYNTAX, 501, "5.5.4", "Syntax: EHLO domain-or-address-literal", false, NOSTORE},
    {SMTP_R_NO_ARGS, 501, "5.5.4", "This command takes no arguments", false, NOSTORE},
    {SMTP_R_NOT_IMPL, 502, "5.5.1", "Command not implemented", false, NOSTORE},
    {SMTP_R_BAD_SEQ, 503, "5.5.1", "Bad sequence of commands", false, NOSTORE},
    {SMTP_R_NEED_HELO, 503, "5.5.1", "Send EHLO or HELO first", false, NOSTORE},
    {SMTP_R_NESTED_MAIL, 503, "5.5.1", "Transaction already started", false, NOSTORE},
    {SMTP_R_NEED_MAIL, 503, "5.5.1", "Send MAIL first", false, NOSTORE},
    {SMTP_R_ONLY_QUIT, 503, "5.5.1", "Only QUIT is accepted", false, NOSTORE},
    {SMTP_R_NO_RCPT, 554, "5.5.1", "No valid recipients", false, NOSTORE},
    {SMTP_R_RCPT_UNKNOWN, 550, "5.1.1", "No archive accepts this recipient", false, NOSTORE},
    {SMTP_R_TOO_BIG, 552, "5.3.4", "Message too big", false, STORE_ETOOBIG},
    {SMTP_R_LONG_LINE, 554, "5.6.0", "Message has a line longer than the limit", false, NOSTORE},
    {SMTP_R_ADDR_SYNTAX, 501, "5.1.3", "Bad address syntax", false, NOSTORE},
    {SMTP_R_NEED_UTF8, 553, "5.6.7", "Non-ASCII address needs SMTPUTF8", false, NOSTORE},
    {SMTP_R_DENIED, 554, "5.7.1", "Access denied", false, NOSTORE},
    {SMTP_R_PARAM_UNKNOWN, 555, "5.5.4", "Parameter not recognized", false, NOSTORE},
    {SMTP_R_CHUNK_OK, 250, "2.0.0", "Chunk received", false, NOSTORE},
    {SMTP_R_TLS_GO, 220, "2.0.0", "Ready to start TLS", false, NOSTORE},
    {SMTP_R_TLS_ACTIVE, 503, "5.5.1", "TLS already active", false, NOSTORE},
    /* RFC 3207 §4 */
    {SMTP_R_NEED_TLS, 530, "5.7.0", "Must issue a STARTTLS command first", false, NOSTORE},
    /* RFC 4954 §6 */
    {SMTP_R_NEED_AUTH, 530, "5.7.0", "Authentication required", false, NOSTORE},
    {SMTP_R_AUTH_OK, 235, "2.7.0", "Authentication successful", false, NOSTORE},
    {SMTP_R_AUTH_NEED_TLS, 538, "5.7.11",
     "Encryption required for requested authentication mechanism", false, NOSTORE},
    {SMTP_R_AUTH_MECH, 504, "5.5.4", "Unrecognized authentication type", false, NOSTORE},
    {SMTP_R_AUTH_ALREADY, 503, "5.5.1", "Already authenticated", false, NOSTORE},
    {SMTP_R_AUTH_BAD64, 501, "5.5.2", "Cannot decode response", false, NOSTORE},
    {SMTP_R_AUTH_CANCEL, 501, "5.7.0", "Authentication cancelled", false, NOSTORE},
    {SMTP_R_AUTH_FAILED, 535, "5.7.8", "Authentication credentials invalid", false, NOSTORE},
    {SMTP_R_AUTH_TEMP, 454, "4.7.0", "Temporary authentication failure", false, NOSTORE},
    {SMTP_R_AUTH_TOO_MANY, 421, "4.7.0", "Too many authentication failures, closing", true,
     NOSTORE},
    {SMTP_R_RCPT_FORBIDDEN, 550, "5.7.1", "Not authorized to submit to this recipient's archive",
     false, NOSTORE},
};

static const char *const names[SMTP_R__COUNT] = {
    "SMTP_R_OK",
    "SMTP_R_SENDER_OK",
    "SMTP_R_RCPT_OK",
    "SMTP_R_STORED",
    "SMTP_R_GREETING",
    "SMTP_R_BYE",
    "SMTP_R_HELP",
    "SMTP_R_VRFY",
    "SMTP_R_DATA_GO",
    "SMTP_R_SHUTDOWN",
    "SMTP_R_TOO_MANY_CONN",
    "SMTP_R_TOO_MANY_PER_CLIENT",
    "SMTP_R_TOO_MANY_ERRORS",
    "SMTP_R_NOT_SMTP",
    "SMTP_R_IDLE_TIMEOUT",
    "SMTP_R_SESSION_TIMEOUT",
    "SMTP_R_STORE_IO",
    "SMTP_R_STORE_FAILED",
    "SMTP_R_STORE_BUSY",
    "SMTP_R_STORE_OTHER",
    "SMTP_R_STORE_GONE",
    "SMTP_R_STORE_SHUTDOWN",
    "SMTP_R_NO_SPACE",
    "SMTP_R_TOO_MANY_RCPT",
    "SMTP_R_UNKNOWN_CMD",
    "SMTP_R_SYNTAX",
    "SMTP_R_LINE_TOO_LONG",
    "SMTP_R_PARAM_SYNTAX",
    "SMTP_R_HELO_SYNTAX",
    "SMTP_R_NO_ARGS",
    "SMTP_R_NOT_IMPL",
    "SMTP_R_BAD_SEQ",
    "SMTP_R_NEED_HELO",
    "SMTP_R_NESTED_MAIL",
    "SMTP_R_NEED_MAIL",
    "SMTP_R_ONLY_QUIT",
    "SMTP_R_NO_RCPT",
    "SMTP_R_RCPT_UNKNOWN",
    "SMTP_R_TOO_BIG",
    "SMTP_R_LONG_LINE",
    "SMTP_R_ADDR_SYNTAX",
    "SMTP_R_NEED_UTF8",
    "SMTP_R_DENIED",
    "SMTP_R_PARAM_UNKNOWN",
    "SMTP_R_CHUNK_OK",
    "SMTP_R_TLS_GO",
    "SMTP_R_TLS_ACTIVE",
    "SMTP_R_NEED_TLS",
    "SMTP_R_NEED_AUTH",
    "SMTP_R_AUTH_OK",
    "SMTP_R_AUTH_NEED_TLS",
    "SMTP_R_AUTH_MECH",
    "SMTP_R_AUTH_ALREADY",
    "SMTP_R_AUTH_BAD64",
    "SMTP_R_AUTH_CANCEL",
    "SMTP_R_AUTH_FAILED",
    "SMTP_R_AUTH_TEMP",
    "SMTP_R_AUTH_TOO_MANY",
    "SMTP_R_RCPT_FORBIDDEN",
};

const smtp_reply_t *smtp_reply_get(smtp_reply_id_t id)
{
	if ((unsigned)id >= SMTP_R__COUNT)
		id = SMTP_R_STORE_OTHER;
	return &replies[id];
}

const char *smtp_reply_name(smtp_reply_id_t id)
{
	return (unsigned)id < SMTP_R__COUNT ? names[id] : "SMTP_R_?";
}

smtp_reply_id_t smtp_reply_for_store(store_status_t st)
{
	for (size_t i = 0; i < SMTP_R__COUNT; i++)
		if (replies[i].store_status == (int)st)
			return replies[i].id;
	/* Statuses with no row of their own (EKEY, ECORRUPT, EINVAL, ...) are
	 * local trouble a retry may clear: temporary, never a bounce. */
	return SMTP_R_STORE_OTHER;
}

void smtp_reply_format(buf_t *out, smtp_reply_id_t id, const char *host, const char *extra)
{
	const smtp_reply_t *r = smtp_reply_get(id);
	size_t start = out->len;
	buf_printf(out, "%u ", r->code);
	if (r->enhanced)
		buf_printf(out, "%s ", r->enhanced);
	if (host && *host)
		buf_printf(out, "%.255s ", host);
	buf_append_str(out, r->text);
	if (extra && *extra) {
		buf_append_str(out, ": ");
		/* Leave room for CRLF; never let client-supplied bytes break the
		 * line or the reply (RFC 5321 §4.2: replies are printable text). */
		for (const char *p = extra; *p && out->len - start < SMTP_REPLY_MAX - 2; p++) {
			unsigned char c = (unsigned char)*p;
			buf_append_byte(out, (c >= 0x20 && c < 0x7f) ? c : '?');
		}
	}
	buf_append(out, "\r\n", 2);
}
