/* util_fs.c — small, careful file helpers.
 *
 * Does: mkdir -p, atomic whole-file replacement (tmp + fsync + rename + fsync
 * of the directory), bounded whole-file reads, full writes.  Does not: retry a
 * failed fsync (a failed fsync means the page cache state is unknown; the
 * caller must stop, see STYLE.md).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vellum/util.h"

util_status_t util_mkdir_p(const char *path, mode_t mode)
{
	char *p = xstrdup(path);
	size_t n = strlen(p);
	while (n > 1 && p[n - 1] == '/')
		p[--n] = '\0';
	for (char *s = p + 1; ; s++) {
		bool end = *s == '\0';
		if (*s == '/' || end) {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) != 0 && errno != EEXIST) {
				int e = errno;
				free(p);
				errno = e;
				return UTIL_EIO;
			}
			*s = c;
		}
		if (end)
			break;
	}
	free(p);
	struct stat stt;
	if (stat(path, &stt) != 0 || !S_ISDIR(stt.st_mode))
		return UTIL_EIO;
	return UTIL_OK;
}

util_status_t util_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return UTIL_EIO;
	int e = util_fault("util.fsync_dir");
	int rc = e ? -1 : fsync(fd);
	if (e)
		errno = e;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc == 0 ? UTIL_OK : UTIL_EIO;
}

util_status_t util_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return UTIL_EIO;
		}
		b += w;
		n -= (size_t)w;
	}
	return UTIL_OK;
}

util_status_t util_read_all(int fd, void *p, size_t n, size_t *got)
{
	uint8_t *b = p;
	size_t total = 0;
	while (total < n) {
		ssize_t r = read(fd, b + total, n - total);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			*got = total;
			return UTIL_EIO;
		}
		if (r == 0)
			break;
		total += (size_t)r;
	}
	*got = total;
	return UTIL_OK;
}

util_status_t util_write_file_atomic(const char *path, const void *p, size_t n, mode_t mode)
{
	char *tmp = xasprintf("%s.tmp", path);
	util_status_t st = UTIL_EIO;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		goto out;
	if (fchmod(fd, mode) != 0 || util_write_all(fd, p, n) != UTIL_OK || fsync(fd) != 0) {
		int e = errno;
		close(fd);
		unlink(tmp);
		errno = e;
		goto out;
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		goto out;
	}
	char *dir = util_dirname(path);
	st = util_fsync_dir(dir);
	free(dir);
out:
	free(tmp);
	return st;
}

util_status_t util_read_file(const char *path, size_t max, buf_t *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? UTIL_ENOENT : UTIL_EIO;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return UTIL_EIO;
	}
	if (S_ISREG(st.st_mode) && (uint64_t)st.st_size > max) {
		close(fd);
		return UTIL_ETOOBIG;
	}
	size_t total = 0;
	for (;;) {
		buf_reserve(b, 4096);
		ssize_t r = read(fd, b->data + b->len, 4096);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			int e = errno;
			close(fd);
			errno = e;
			return UTIL_EIO;
		}
		if (r == 0)
			break;
		total += (size_t)r;
		if (total > max) {
			close(fd);
			return UTIL_ETOOBIG;
		}
		b->len += (size_t)r;
		b->data[b->len] = '\0';
	}
	close(fd);
	return UTIL_OK;
}

char *util_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

char *util_path_join(const char *dir, const char *name)
{
	if (name[0] == '/' || !dir || !*dir)
		return xstrdup(name);
	while (name[0] == '.' && name[1] == '/')
		name += 2;
	size_t dl = strlen(dir);
	if (dir[dl - 1] == '/')
		return xasprintf("%s%s", dir, name);
	return xasprintf("%s/%s", dir, name);
}
