/* cli_import.c — `vellum import [--archive A] PATH...`: existing mail in.
 *
 * Does: walk the paths — an .eml file is one message; a file starting with
 * an mbox "From " line is an mbox (mboxrd: ">From " lines unescaped, the
 * From_ line's sender becomes MAIL FROM); a Maildir's cur/ and new/, and
 * any other directory, recursively; a PST file (Outlook) is converted by
 * `readpst` (pst-utils) into a temporary directory first — and POST each
 * message to /api/v1/archives/A/messages (?via=import), so an import is
 * stored, deduplicated and audited like any submission, through the running
 * server or in-process.  Shows a progress bar on a terminal (by bytes of
 * input) and ends with a summary line.
 * Does not: parse messages (stored byte for byte as found), or keep more
 * than one message in memory.
 *
 * Exit status: 0 when every message was stored, 1 when some failed (each
 * named on stderr), 2 for usage errors.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli_private.h"
#include "vellum/util.h"

/* A message read from a file is held in memory while it is sent: the
 * server refuses anything above max_message_size (64 MiB by default) anyway,
 * so reading stops a little beyond that and the server says 413. */
#define IMPORT_MSG_MAX ((size_t)1 << 30)
/* Directory depth followed (Maildir++ folders nest a few levels). */
#define IMPORT_DEPTH_MAX 32
/* An mbox line longer than this is still read whole (getline), but a
 * From_ line's sender is only taken from the first bytes. */
#define IMPORT_SENDER_MAX 1024

typedef struct imp {
	cli_ctx_t *c;
	const char *archive;
	char path[256]; /* /api/v1/archives/A/messages */
	uint64_t total_bytes, done_bytes;
	uint64_t files, messages, duplicates, failed, bytes_sent;
	bool tty, fatal;
	int64_t last_draw;
} imp_t;

static void import_usage(FILE *f)
{
	fprintf(f, "usage: vellum [-c FILE] import [--archive A] PATH...\n\n"
	           "Imports existing mail: .eml files (one message each), mbox files, Maildir\n"
	           "folders, directories of any of these (recursively), and Outlook PST files\n"
	           "(converted with readpst from pst-utils).  Messages are stored exactly as\n"
	           "found, into archive A (default: default), deduplicated like SMTP arrivals,\n"
	           "and audited as message.submit.  Needs ingest or admin on the archive.\n");
}

/* ---- progress ---- */

static void progress(imp_t *m, bool final)
{
	if (!m->tty)
		return;
	int64_t now = util_monotonic_us();
	if (!final && now - m->last_draw < 100000)
		return;
	m->last_draw = now;
	double frac = m->total_bytes ? (double)m->done_bytes / (double)m->total_bytes : 1.0;
	if (frac > 1)
		frac = 1;
	char bar[31];
	int fill = (int)(frac * 30);
	for (int i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %3d%%  %llu messages", bar, (int)(frac * 100),
	        (unsigned long long)m->messages);
	if (final)
		fputc('\n', stderr);
	fflush(stderr);
}

/* ---- sending one message ---- */

static void send_message(imp_t *m, const char *origin, uint64_t n, const uint8_t *p, size_t len,
                         const char *sender)
{
	if (m->fatal)
		return;
	const char *query[] = {"via", "import", "mail_from", sender, NULL};
	int status = 0;
	json_t *j = NULL;
	char what[512];
	snprintf(what, sizeof what, "import: %s%s%llu", origin, n ? ": message " : "",
	         (unsigned long long)n);
	if (!n)
		snprintf(what, sizeof what, "import: %s", origin);
	if (!cli_upload(m->c, m->path, query, p, len, &status, &j)) {
		m->failed++;
		m->fatal = true; /* the server is gone: nothing else will work */
	} else if (status == 201) {
		m->messages++;
		m->bytes_sent += len;
		if (json_is_true(json_object_get(j, "duplicate")))
			m->duplicates++;
	} else {
		if (m->tty)
			fputc('\n', stderr);
		cli_api_error(what, status, j);
		m->failed++;
		/* Not allowed, no such archive, store refusing: stop; a single bad
		 * message (empty, too large): go on. */
		if (status == 401 || status == 403 || status == 404 || status >= 500)
			m->fatal = true;
	}
	json_decref(j);
	progress(m, false);
}

/* ---- mbox ---- */

/* "From sender date..." at the start of a line: the separator. */
static bool from_line(const char *l, size_t n)
{
	return n >= 5 && !memcmp(l, "From ", 5);
}

static void from_sender(const char *l, size_t n, char out[IMPORT_SENDER_MAX])
{
	size_t i = 5, k = 0;
	while (i < n && l[i] != ' ' && l[i] != '\n' && l[i] != '\r' && k + 1 < IMPORT_SENDER_MAX)
		out[k++] = l[i++];
	out[k] = '\0';
	if (!strcmp(out, "MAILER-DAEMON") || strpbrk(out, "<>"))
		out[0] = '\0';
}

static void mbox_flush(imp_t *m, const char *path, uint64_t n, buf_t *msg, const char *sender)
{
	/* The blank line before the next From_ line belongs to the mbox. */
	if (msg->len >= 2 && msg->data[msg->len - 1] == '\n' && msg->data[msg->len - 2] == '\n')
		msg->len--;
	else if (msg->len >= 3 && !memcmp(msg->data + msg->len - 3, "\n\r\n", 3))
		msg->len -= 2;
	if (msg->len)
		send_message(m, path, n, msg->data, msg->len, *sender ? sender : NULL);
	buf_reset(msg);
}

static void import_mbox(imp_t *m, const char *path, FILE *f)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	buf_t msg = {0};
	char sender[IMPORT_SENDER_MAX] = "";
	uint64_t count = 0;
	bool prev_blank = true, in_msg = false;
	while (!m->fatal && (n = getline(&line, &cap, f)) > 0) {
		m->done_bytes += (uint64_t)n;
		if (prev_blank && from_line(line, (size_t)n)) {
			if (in_msg)
				mbox_flush(m, path, count, &msg, sender);
			from_sender(line, (size_t)n, sender);
			count++;
			in_msg = true;
			prev_blank = false;
			continue;
		}
		prev_blank = (n == 1 && line[0] == '\n') || (n == 2 && !memcmp(line, "\r\n", 2));
		if (!in_msg)
			continue; /* junk before the first From_ line */
		/* mboxrd: ">From ", ">>From ", ... lose one '>'. */
		const char *l = line;
		size_t k = strspn(l, ">");
		if (k && (size_t)n - k >= 5 && !memcmp(l + k, "From ", 5)) {
			l++;
			n--;
		}
		if (msg.len + (size_t)n > IMPORT_MSG_MAX)
			continue; /* the server will say 413 for what was kept */
		buf_append(&msg, l, (size_t)n);
	}
	if (in_msg && !m->fatal)
		mbox_flush(m, path, count, &msg, sender);
	free(line);
	buf_free(&msg);
}

/* ---- files and directories ---- */

static void import_eml(imp_t *m, const char *path, FILE *f, uint64_t size)
{
	buf_t b = {0};
	uint8_t chunk[65536];
	size_t got;
	while ((got = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len < IMPORT_MSG_MAX)
		buf_append(&b, chunk, got);
	m->done_bytes += size;
	if (ferror(f)) {
		cli_error("import: %s: %s", path, strerror(errno));
		m->failed++;
	} else if (!b.len) {
		cli_error("import: %s: empty file, skipped", path);
	} else {
		send_message(m, path, 0, b.data, b.len, NULL);
	}
	buf_free(&b);
}

static void import_path(imp_t *m, const char *path, int depth);

/* PST: readpst into a temporary directory, then import that. */
static void import_pst(imp_t *m, const char *path, uint64_t size)
{
	char tmpl[] = "/tmp/vellum-pst-XXXXXX";
	if (!mkdtemp(tmpl)) {
		cli_error("import: %s: temporary directory: %s", path, strerror(errno));
		m->failed++;
		return;
	}
	pid_t pid = fork();
	if (pid == 0) {
		/* -e: one .eml file per message; -b: no RTF copies; -te: e-mail only. */
		execlp("readpst", "readpst", "-q", "-e", "-b", "-te", "-o", tmpl, path,
		       (char *)NULL);
		fprintf(stderr, "vellum: import: %s: cannot run readpst (install pst-utils): %s\n",
		        path, strerror(errno));
		_exit(127);
	}
	int st = 0;
	if (pid > 0)
		waitpid(pid, &st, 0);
	if (pid < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		if (pid > 0 && WEXITSTATUS(st) != 127)
			cli_error("import: %s: readpst failed (status %d)", path, WEXITSTATUS(st));
		m->failed++;
	} else {
		uint64_t before = m->total_bytes;
		import_path(m, tmpl, 1);
		m->total_bytes = before;
	}
	m->done_bytes += size;
	char *cmd[] = {"rm", "-rf", tmpl, NULL};
	pid = fork();
	if (pid == 0) {
		execvp(cmd[0], cmd);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void import_file(imp_t *m, const char *path, uint64_t size)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		cli_error("import: %s: %s", path, strerror(errno));
		m->failed++;
		return;
	}
	m->files++;
	char head[5] = {0};
	size_t got = fread(head, 1, sizeof head, f);
	rewind(f);
	if (got >= 4 && !memcmp(head, "!BDN", 4)) { /* PST/OST magic */
		fclose(f);
		import_pst(m, path, size);
		return;
	}
	if (got == 5 && !memcmp(head, "From ", 5))
		import_mbox(m, path, f);
	else
		import_eml(m, path, f, size);
	fclose(f);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void import_dir(imp_t *m, const char *path, int depth)
{
	DIR *d = opendir(path);
	if (!d) {
		cli_error("import: %s: %s", path, strerror(errno));
		m->failed++;
		return;
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		/* Hidden files (.DS_Store, Dovecot's index files) and a Maildir's
		 * tmp/ (messages still being delivered) are not mail. */
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "tmp"))
			continue;
		names = xrealloc(names, (n + 1) * sizeof *names);
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof *names, name_cmp); /* a stable, repeatable order */
	for (size_t i = 0; i < n; i++) {
		char *p = util_path_join(path, names[i]);
		if (!m->fatal)
			import_path(m, p, depth + 1);
		free(p);
		free(names[i]);
	}
	free(names);
}

static void import_path(imp_t *m, const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		cli_error("import: %s: %s", path, strerror(errno));
		m->failed++;
	} else if (S_ISDIR(st.st_mode)) {
		if (depth < IMPORT_DEPTH_MAX)
			import_dir(m, path, depth);
	} else if (S_ISREG(st.st_mode)) {
		import_file(m, path, (uint64_t)st.st_size);
	}
}

/* Bytes of input, for the progress bar. */
static uint64_t size_of(const char *path, int depth)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	if (S_ISREG(st.st_mode))
		return (uint64_t)st.st_size;
	if (!S_ISDIR(st.st_mode) || depth >= IMPORT_DEPTH_MAX)
		return 0;
	uint64_t total = 0;
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.' || !strcmp(e->d_name, "tmp"))
			continue;
		char *p = util_path_join(path, e->d_name);
		total += size_of(p, depth + 1);
		free(p);
	}
	if (d)
		closedir(d);
	return total;
}

int cli_import_main(const char *config_path, int argc, char **argv)
{
	const char *archive = "default";
	const char **paths = xcalloc((size_t)argc, sizeof *paths);
	size_t np = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			import_usage(stdout);
			free(paths);
			return 0;
		} else if (!strcmp(argv[i], "--archive") && i + 1 < argc) {
			archive = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1]) {
			cli_error("import: unknown or incomplete option '%s'", argv[i]);
			free(paths);
			return 2;
		} else {
			paths[np++] = argv[i];
		}
	}
	if (!np) {
		import_usage(stderr);
		free(paths);
		return 2;
	}
	imp_t m = {.archive = archive, .tty = isatty(STDERR_FILENO) == 1};
	snprintf(m.path, sizeof m.path, "/api/v1/archives/%s/messages", archive);
	m.c = cli_ctx_open(config_path, "import");
	if (!m.c) {
		free(paths);
		return 1;
	}
	for (size_t i = 0; i < np; i++)
		m.total_bytes += size_of(paths[i], 0);
	for (size_t i = 0; i < np && !m.fatal; i++)
		import_path(&m, paths[i], 0);
	progress(&m, true);
	printf("imported %llu messages (%llu already archived, %llu failed) into %s from %llu "
	       "files, %.1f MiB\n",
	       (unsigned long long)m.messages, (unsigned long long)m.duplicates,
	       (unsigned long long)m.failed, archive, (unsigned long long)m.files,
	       (double)m.bytes_sent / (1024.0 * 1024.0));
	cli_ctx_close(m.c);
	free(paths);
	return m.failed ? 1 : 0;
}
