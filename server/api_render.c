/* api_render.c — understanding a stored message for the HTTP layer, out of
 * process.
 *
 * DESIGN.md invariant 6: hostile mail must not crash or hang the server.
 * The API never parses a message in its own process: each render forks a
 * child that parses with GMime (mime.h) under an address-space limit and
 * an alarm, writes its answer to a pipe and exits; the parent reads the
 * answer within a wall-clock budget, and a crash, hang or nonsense is an
 * error status for that one request.
 *
 * The child runs in a copy of a multithreaded process, so it touches
 * nothing but malloc, GMime, jansson and write(2); no locks of the parent's
 * are taken (no GMime use in the server's own threads; glibc resets malloc
 * at fork).
 *
 * Answers, written by the child: one status byte, a 4-byte big-endian
 * length, that many bytes of JSON metadata, then the payload to EOF.
 *
 * Does not: read the store (the caller passes the raw bytes), or decide
 * what the client may see (the handlers).  The indexer's render helper
 * (mime_render_*, when it lands) replaces the child's body with an exec of
 * `vellum mime-render`; the interface here stays.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "api_private.h"
#include "vellum/log.h"
#include "vellum/mime.h"

/* Wall-clock budget of one render: GMime parses tens of MB per second, so a
 * real message takes well under a second; this only stops hostile input. */
#define RENDER_TIMEOUT_MS 10000
/* Address space the child may add to what it inherits from the server
 * (threads' stacks, the index's maps): the input, GMime's copy and decoded
 * parts fit in it; a parser bug that allocates without bound hits it.  Not
 * under sanitizers, whose shadow memory needs terabytes of address space. */
#define RENDER_MEM_MAX ((rlim_t)2 << 30)
/* Largest answer read back: the input bounds every payload (a part or a
 * body is at most the message), plus metadata. */
#define RENDER_ANSWER_MAX (MIME_INPUT_MAX + ((size_t)16 << 20))

const char *api_render_strerror(api_render_status_t st)
{
	switch (st) {
	case RENDER_OK: return "ok";
	case RENDER_ENOTFOUND: return "not in this message";
	case RENDER_ETIMEOUT: return "rendering took too long (hostile message?)";
	case RENDER_ECRASH: return "the renderer crashed on this message";
	case RENDER_EHELPER: return "the renderer could not run";
	}
	return "unknown error";
}

/* ---- the child ---- */

typedef enum { OP_DETAIL, OP_BODY_TEXT, OP_BODY_HTML, OP_PART, OP_INNER } op_t;

static json_t *addrs_json(const mime_addrlist_t *l)
{
	json_t *a = json_array();
	for (size_t i = 0; i < l->n; i++) {
		buf_t b = {0};
		mime_addr_format(&l->v[i], &b);
		json_array_append_new(a, api_str((const char *)b.data));
		buf_free(&b);
	}
	return a;
}

static json_t *parts_json(const mime_info_t *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->nparts; i++) {
		const mime_part_t *p = &in->parts[i];
		json_array_append_new(
		    a,
		    json_pack("{s:i, s:i, s:i, s:o, s:o, s:o, s:o, s:I, s:b, s:b, s:b}", "num",
		              (int)p->num, "parent", (int)p->parent, "depth", (int)p->depth,
		              "content_type", api_str(p->content_type), "charset",
		              api_str(p->charset), "filename", api_str(p->filename), "content_id",
		              api_str(p->content_id), "size", (json_int_t)p->size, "attachment",
		              p->attachment, "container", p->container, "body", p->body));
	}
	return a;
}

static json_t *attachments_json(const mime_info_t *in)
{
	json_t *a = json_array();
	for (size_t i = 0; i < in->nparts; i++) {
		const mime_part_t *p = &in->parts[i];
		if (p->attachment)
			json_array_append_new(
			    a, json_pack("{s:i, s:o, s:o, s:I}", "part", (int)p->num, "filename",
			                 api_str(p->filename), "content_type",
			                 api_str(p->content_type), "size", (json_int_t)p->size));
	}
	return a;
}

/* The message/rfc822 part holding the original of a journal report, 0 if
 * none: the first such part directly under the top-level entity. */
static unsigned inner_part(const mime_info_t *in)
{
	if (!(in->flags & MIME_F_JOURNAL))
		return 0;
	for (size_t i = 0; i < in->nparts; i++)
		if (in->parts[i].parent == 1 && in->parts[i].content_type &&
		    !strcmp(in->parts[i].content_type, "message/rfc822"))
			return in->parts[i].num;
	return 0;
}

static json_t *detail_json(const mime_info_t *in)
{
	json_t *o = json_object();
	json_object_set_new(o, "subject", api_str(in->subject));
	json_object_set_new(o, "from", addrs_json(&in->from));
	json_object_set_new(o, "sender", addrs_json(&in->sender));
	json_object_set_new(o, "reply_to", addrs_json(&in->reply_to));
	json_object_set_new(o, "to", addrs_json(&in->to));
	json_object_set_new(o, "cc", addrs_json(&in->cc));
	json_object_set_new(o, "bcc", addrs_json(&in->bcc));
	json_object_set_new(o, "date",
	                    in->flags & MIME_F_NO_DATE ? json_null() : api_time(in->date));
	json_object_set_new(o, "message_id", api_str(in->message_id));
	json_object_set_new(o, "in_reply_to", api_str(in->in_reply_to));
	json_t *refs = json_array();
	for (size_t i = 0; in->references && in->references[i]; i++)
		json_array_append_new(refs, api_str(in->references[i]));
	json_object_set_new(o, "references", refs);
	json_t *h = json_array();
	for (size_t i = 0; i < in->nheaders; i++)
		json_array_append_new(h,
		                      json_pack("{s:o, s:o}", "name", api_str(in->headers[i].name),
		                                "value", api_str(in->headers[i].value)));
	json_object_set_new(o, "headers", h);
	json_object_set_new(o, "parts", parts_json(in));
	json_object_set_new(o, "display_part", json_integer(1));
	json_object_set_new(o, "attachments", attachments_json(in));
	unsigned ip = inner_part(in);
	json_object_set_new(o, "journal",
	                    ip ? json_pack("{s:i, s:b}", "inner_part", (int)ip, "inner_exact", 0)
	                       : json_null());
	json_object_set_new(o, "body",
	                    json_pack("{s:b, s:b}", "text", 1, "html", in->html != NULL));
	json_t *w = json_array(), *cuts = json_array();
	static const struct {
		uint32_t bit;
		const char *name;
	} fl[] = {{MIME_F_UNPARSED, "unparsed"},
	          {MIME_F_TRUNCATED, "truncated"},
	          {MIME_F_NO_DATE, "no_date"},
	          {MIME_F_MALFORMED, "malformed"},
	          {MIME_F_ENCRYPTED, "encrypted"}};
	for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
		if (in->flags & fl[i].bit)
			json_array_append_new(w, json_string(fl[i].name));
	if (in->text_cut)
		json_array_append_new(cuts, json_pack("{s:s, s:I}", "what", "text", "bytes",
		                                      (json_int_t)in->text_cut));
	if (in->parts_dropped)
		json_array_append_new(cuts, json_pack("{s:s, s:I}", "what", "parts", "count",
		                                      (json_int_t)in->parts_dropped));
	json_object_set_new(o, "warnings", w);
	json_object_set_new(o, "cuts", cuts);
	return o;
}

/* Computes the answer into meta/payload; returns the status byte. */
static api_render_status_t child_work(op_t op, unsigned num, const void *raw, size_t n,
                                      json_t **meta, buf_t *payload)
{
	mime_init();
	mime_msg_t *m = NULL;
	mime_opts_t mo = {.keep_html = true};
	if (mime_parse(raw, n > MIME_INPUT_MAX ? MIME_INPUT_MAX : n, &mo, &m) != MIME_OK)
		return RENDER_EHELPER;
	const mime_info_t *in = mime_msg_info(m);
	api_render_status_t st = RENDER_OK;
	*meta = json_object();
	if (op == OP_DETAIL) {
		json_decref(*meta);
		*meta = detail_json(in);
		if (n > MIME_INPUT_MAX)
			json_array_append_new(json_object_get(*meta, "warnings"),
			                      json_string("input_truncated"));
	} else if (op == OP_BODY_TEXT) {
		buf_append(payload, in->text.data, in->text.len);
	} else if (op == OP_BODY_HTML) {
		if (in->html)
			buf_append_str(payload, in->html);
		else
			st = RENDER_ENOTFOUND;
	} else {
		if (op == OP_INNER)
			num = inner_part(in);
		const mime_part_t *p = NULL;
		for (size_t i = 0; i < in->nparts; i++)
			if (in->parts[i].num == num)
				p = &in->parts[i];
		if (!p || mime_part_content(m, num, payload) != MIME_OK) {
			st = RENDER_ENOTFOUND;
		} else {
			json_object_set_new(*meta, "filename", api_str(p->filename));
			json_object_set_new(*meta, "content_type", api_str(p->content_type));
		}
	}
	mime_msg_free(m);
	return st;
}

static void child_main(int fd, op_t op, unsigned num, const void *raw, size_t n)
{
	signal(SIGPIPE, SIG_DFL);
#ifndef VELLUM_SANITIZERS
	/* /proc/self/statm: the first field is the address space in pages. */
	unsigned long pages = 0;
	FILE *f = fopen("/proc/self/statm", "r");
	if (f) {
		if (fscanf(f, "%lu", &pages) != 1)
			pages = 0;
		fclose(f);
	}
	rlim_t cur = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE);
	struct rlimit rl = {cur + RENDER_MEM_MAX, cur + RENDER_MEM_MAX};
	setrlimit(RLIMIT_AS, &rl);
#endif
	alarm((RENDER_TIMEOUT_MS + 999) / 1000 + 1); /* a hang dies even if the parent is gone */
	if (util_fault("api.render_crash"))
		raise(SIGKILL); /* tests: a renderer that dies must not take the server along */
	json_t *meta = NULL;
	buf_t payload = {0};
	uint8_t st = (uint8_t)child_work(op, num, raw, n, &meta, &payload);
	char *mt = meta ? json_dumps(meta, JSON_COMPACT) : NULL;
	size_t ml = mt ? strlen(mt) : 0;
	uint8_t hdr[5] = {st, (uint8_t)(ml >> 24), (uint8_t)(ml >> 16), (uint8_t)(ml >> 8),
	                  (uint8_t)ml};
	bool ok = util_write_all(fd, hdr, sizeof hdr) == UTIL_OK &&
	          (!ml || util_write_all(fd, mt, ml) == UTIL_OK) &&
	          (!payload.len || util_write_all(fd, payload.data, payload.len) == UTIL_OK);
	_exit(ok ? 0 : 3);
}

/* ---- the parent ---- */

/* Reads the child's whole answer within the budget; false on timeout
 * (*timed_out) or when it is longer than RENDER_ANSWER_MAX. */
static bool read_answer(int fd, buf_t *out, bool *timed_out)
{
	int64_t deadline = util_monotonic_us() + RENDER_TIMEOUT_MS * INT64_C(1000);
	for (;;) {
		int64_t left = (deadline - util_monotonic_us()) / 1000;
		if (left <= 0) {
			*timed_out = true;
			return false;
		}
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			continue; /* timeout is checked above */
		buf_reserve(out, 65536);
		ssize_t got = read(fd, out->data + out->len, out->cap - out->len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			return got == 0;
		out->len += (size_t)got;
		if (out->len > RENDER_ANSWER_MAX)
			return false;
	}
}

static api_render_status_t render(op_t op, unsigned num, const void *raw, size_t n, json_t **meta,
                                  buf_t *payload)
{
	*meta = NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		log_error("api.render_pipe", "err=%s", strerror(errno));
		return RENDER_EHELPER;
	}
	pid_t pid = fork();
	if (pid < 0) {
		log_error("api.render_fork", "err=%s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return RENDER_EHELPER;
	}
	if (pid == 0) {
		close(p[0]);
		child_main(p[1], op, num, raw, n);
	}
	close(p[1]);
	buf_t ans = {0};
	bool timed_out = false;
	bool complete = read_answer(p[0], &ans, &timed_out);
	close(p[0]);
	if (!complete)
		kill(pid, SIGKILL);
	int status = 0;
	pid_t w;
	while ((w = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
		;
	/* Without an exit status (someone else reaped the child), the answer
	 * alone decides: a child that wrote nothing whole died. */
	bool exited_ok = w == pid ? WIFEXITED(status) && WEXITSTATUS(status) == 0 : true;
	api_render_status_t st = RENDER_OK;
	if (timed_out)
		st = RENDER_ETIMEOUT;
	else if (!complete || !exited_ok || ans.len < 5)
		st = RENDER_ECRASH;
	if (st != RENDER_OK) {
		log_warn("api.render", "op=%d status=%s wstatus=%d", (int)op,
		         api_render_strerror(st), status);
		buf_free(&ans);
		return st;
	}
	st = (api_render_status_t)ans.data[0];
	size_t ml = ((size_t)ans.data[1] << 24) | ((size_t)ans.data[2] << 16) |
	            ((size_t)ans.data[3] << 8) | ans.data[4];
	if (ml > ans.len - 5 || st > RENDER_EHELPER) {
		buf_free(&ans);
		return RENDER_EHELPER;
	}
	if (ml) {
		*meta = json_loadb((const char *)ans.data + 5, ml, 0, NULL);
		if (!json_is_object(*meta)) {
			json_decref(*meta);
			*meta = NULL;
			buf_free(&ans);
			return RENDER_EHELPER;
		}
	}
	if (payload)
		buf_append(payload, ans.data + 5 + ml, ans.len - 5 - ml);
	buf_free(&ans);
	return st;
}

api_render_status_t api_render_detail(const void *raw, size_t n, json_t **out)
{
	return render(OP_DETAIL, 0, raw, n, out, NULL);
}

api_render_status_t api_render_body(const void *raw, size_t n, bool html, buf_t *out)
{
	json_t *meta;
	api_render_status_t st = render(html ? OP_BODY_HTML : OP_BODY_TEXT, 0, raw, n, &meta, out);
	json_decref(meta);
	return st;
}

static api_render_status_t part_meta(api_render_status_t st, json_t *meta, char **filename,
                                     char **content_type)
{
	*filename = *content_type = NULL;
	if (st == RENDER_OK && meta) {
		*filename = xstrdup(json_string_value(json_object_get(meta, "filename")));
		*content_type = xstrdup(json_string_value(json_object_get(meta, "content_type")));
	}
	json_decref(meta);
	return st;
}

api_render_status_t api_render_part(const void *raw, size_t n, unsigned num, buf_t *out,
                                    char **filename, char **content_type)
{
	json_t *meta;
	api_render_status_t st = render(OP_PART, num, raw, n, &meta, out);
	return part_meta(st, meta, filename, content_type);
}

api_render_status_t api_render_inner(const void *raw, size_t n, buf_t *out, bool *exact)
{
	json_t *meta;
	char *f, *ct;
	*exact = false;
	api_render_status_t st = render(OP_INNER, 0, raw, n, &meta, out);
	st = part_meta(st, meta, &f, &ct);
	free(f);
	free(ct);
	return st;
}
