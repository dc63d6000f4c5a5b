/* smtp_tls.c — STARTTLS: the GnuTLS transport under an SMTP session.
 *
 * Does: load a listener's certificate and key once, with the priority string
 * its tls_min_version asks for; switch a session's transport (smtp_io_t) to
 * a server-side GnuTLS session over the same non-blocking socket; drive the
 * handshake one step per readiness event; read, write and close through the
 * same operations as plain TCP, so the state machine does not change; say
 * which protocol and cipher suite were agreed (for the envelope).
 *
 * Does not: decide when TLS starts or what a session forgets after it
 * (RFC 3207 §4.2: the session does that), or buffer: the session owns its
 * buffers.  Bytes GnuTLS has decrypted but we have not read yet are invisible
 * to epoll; the `pending` operation tells the session to read them.
 *
 * Writes: GnuTLS wants a send that returned GNUTLS_E_AGAIN repeated with the
 * same data; the session always retries from the same offset, so we repeat
 * with NULL/0 (which GnuTLS allows) and report the length of the first try.
 */
#include "config.h"

#include <errno.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "smtp_private.h"
#include "vellum/log.h"

struct smtp_tls {
	gnutls_certificate_credentials_t cred;
	gnutls_priority_t prio;
};

typedef struct tls_layer {
	gnutls_session_t gs;
	size_t send_pending; /* length of a send that returned E_AGAIN, 0 if none */
} tls_layer_t;

smtp_tls_t *smtp_tls_new(const char *listener, const char *cert, const char *key,
                         const char *min_version)
{
	smtp_tls_t *t = xcalloc(1, sizeof *t);
	/* NORMAL minus everything older than the minimum (DESIGN.md §4:
	 * tls_min_version = 1.2 | 1.3). */
	const char *prio = (min_version && !strcmp(min_version, "1.3"))
	                       ? "NORMAL:-VERS-ALL:+VERS-TLS1.3"
	                       : "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2";
	int rc = gnutls_certificate_allocate_credentials(&t->cred);
	const char *what = "credentials";
	if (rc == GNUTLS_E_SUCCESS) {
		what = "certificate or key";
		rc = gnutls_certificate_set_x509_key_file(t->cred, cert, key, GNUTLS_X509_FMT_PEM);
	}
	if (rc >= 0) {
		what = "priority";
		rc = gnutls_priority_init(&t->prio, prio, NULL);
	}
	if (rc < 0) {
		log_error("smtp.tls", "listener=%s cert=%s key=%s what=%s err=%s", listener, cert,
		          key, what, gnutls_strerror(rc));
		smtp_tls_free(t);
		return NULL;
	}
	return t;
}

void smtp_tls_free(smtp_tls_t *t)
{
	if (!t)
		return;
	if (t->prio)
		gnutls_priority_deinit(t->prio);
	if (t->cred)
		gnutls_certificate_free_credentials(t->cred);
	free(t);
}

/* GnuTLS status to the transport's convention: -1 with errno. */
static ssize_t tls_fail(int rc)
{
	if (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED)
		errno = EAGAIN;
	else
		errno = ECONNRESET;
	return -1;
}

static ssize_t tls_read(smtp_io_t *io, void *buf, size_t n)
{
	tls_layer_t *l = io->layer;
	ssize_t r = gnutls_record_recv(l->gs, buf, n);
	if (r >= 0)
		return r;
	/* A peer that closes without close_notify has still ended the
	 * stream; what it sent before stands. */
	if (r == GNUTLS_E_PREMATURE_TERMINATION)
		return 0;
	return tls_fail((int)r);
}

static ssize_t tls_write(smtp_io_t *io, const void *buf, size_t n)
{
	tls_layer_t *l = io->layer;
	ssize_t r;
	if (l->send_pending) {
		r = gnutls_record_send(l->gs, NULL, 0);
		if (r >= 0) {
			r = (ssize_t)l->send_pending;
			l->send_pending = 0;
		}
	} else {
		r = gnutls_record_send(l->gs, buf, n);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
			l->send_pending = n;
	}
	return r >= 0 ? r : tls_fail((int)r);
}

static void tls_shutdown(smtp_io_t *io)
{
	tls_layer_t *l = io->layer;
	/* close_notify, best effort (non-blocking: it may not all go out). */
	gnutls_bye(l->gs, GNUTLS_SHUT_WR);
	shutdown(io->fd, SHUT_WR);
}

static void tls_release(smtp_io_t *io)
{
	tls_layer_t *l = io->layer;
	if (!l)
		return;
	gnutls_deinit(l->gs);
	free(l);
	io->layer = NULL;
}

static size_t tls_pending(smtp_io_t *io)
{
	tls_layer_t *l = io->layer;
	return gnutls_record_check_pending(l->gs);
}

static const smtp_io_ops_t tls_ops = {tls_read, tls_write, tls_shutdown, tls_release, tls_pending};

bool smtp_io_start_tls(smtp_io_t *io, smtp_tls_t *t)
{
	gnutls_session_t gs;
	int rc = gnutls_init(&gs, GNUTLS_SERVER | GNUTLS_NONBLOCK);
	if (rc != GNUTLS_E_SUCCESS) {
		log_error("smtp.tls", "op=init err=%s", gnutls_strerror(rc));
		return false;
	}
	rc = gnutls_priority_set(gs, t->prio);
	if (rc == GNUTLS_E_SUCCESS)
		rc = gnutls_credentials_set(gs, GNUTLS_CRD_CERTIFICATE, t->cred);
	if (rc != GNUTLS_E_SUCCESS) {
		log_error("smtp.tls", "op=setup err=%s", gnutls_strerror(rc));
		gnutls_deinit(gs);
		return false;
	}
	/* Journal sources do not present client certificates. */
	gnutls_certificate_server_set_request(gs, GNUTLS_CERT_IGNORE);
	gnutls_transport_set_int(gs, io->fd);
	gnutls_handshake_set_timeout(gs, 0); /* the session's idle timer applies */
	tls_layer_t *l = xcalloc(1, sizeof *l);
	l->gs = gs;
	io->ops->release(io);
	io->layer = l;
	io->ops = &tls_ops;
	return true;
}

int smtp_io_handshake(smtp_io_t *io, uint32_t *want, const char **err)
{
	tls_layer_t *l = io->layer;
	int rc;
	do
		rc = gnutls_handshake(l->gs);
	while (rc == GNUTLS_E_INTERRUPTED);
	if (rc == GNUTLS_E_SUCCESS)
		return 1;
	if (rc == GNUTLS_E_AGAIN) {
		*want = gnutls_record_get_direction(l->gs) ? EPOLLOUT : EPOLLIN;
		return 0;
	}
	if (!gnutls_error_is_fatal(rc)) {
		/* A warning alert: go on reading. */
		*want = EPOLLIN;
		return 0;
	}
	*err = gnutls_strerror(rc);
	return -1;
}

const char *smtp_io_tls_version(smtp_io_t *io)
{
	tls_layer_t *l = io->layer;
	const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(l->gs));
	return v ? v : "unknown";
}

const char *smtp_io_tls_cipher(smtp_io_t *io)
{
	tls_layer_t *l = io->layer;
	/* The IANA suite name ("TLS_AES_256_GCM_SHA384"), as mail logs show it. */
	const char *c = gnutls_ciphersuite_get(l->gs);
	if (!c)
		c = gnutls_cipher_get_name(gnutls_cipher_get(l->gs));
	return c ? c : "unknown";
}
