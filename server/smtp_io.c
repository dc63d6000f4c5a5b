/* smtp_io.c — the transport under an SMTP session.
 *
 * Does: read and write a session's bytes through a small table of
 * operations, plain TCP here.  STARTTLS installs a GnuTLS layer with the
 * same operations (smtp_tls.c), so the session's state machine and the event
 * loop do not change.  Does not: buffer; the session owns its buffers.
 */
#include "config.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smtp_private.h"

static ssize_t plain_read(smtp_io_t *io, void *buf, size_t n)
{
	ssize_t r;
	do
		r = recv(io->fd, buf, n, 0);
	while (r < 0 && errno == EINTR);
	return r;
}

static ssize_t plain_write(smtp_io_t *io, const void *buf, size_t n)
{
	ssize_t r;
	/* MSG_NOSIGNAL: a client that went away is an EPIPE, not a SIGPIPE. */
	do
		r = send(io->fd, buf, n, MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	return r;
}

static void plain_shutdown(smtp_io_t *io)
{
	shutdown(io->fd, SHUT_WR);
}

static void plain_release(smtp_io_t *io)
{
	(void)io;
}

static size_t plain_pending(smtp_io_t *io)
{
	(void)io;
	return 0; /* the kernel holds what is unread, and epoll sees it */
}

static const smtp_io_ops_t plain_ops = {plain_read, plain_write, plain_shutdown, plain_release,
                                        plain_pending};

void smtp_io_plain(smtp_io_t *io, int fd)
{
	io->ops = &plain_ops;
	io->fd = fd;
	io->layer = NULL;
}

void smtp_io_close(smtp_io_t *io)
{
	if (io->ops)
		io->ops->release(io);
	if (io->fd >= 0)
		close(io->fd);
	io->fd = -1;
	io->ops = NULL;
}
