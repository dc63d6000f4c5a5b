/* mime.c — GMime 3 parsing of one raw message into mime_info_t (mime.h).
 *
 * Does: hand the bytes to GMime in loose mode (RFC 2047 workarounds, legacy
 * charsets via fallbacks), copy out decoded headers, addresses, Date,
 * Message-ID/In-Reply-To/References, and walk the MIME tree depth-first
 * numbering every entity from 1, collecting body text (text/plain, HTML as
 * text, text inside forwarded message/rfc822) and attachments' names and
 * sizes.  Every list and the text have a named cap; hitting one sets
 * MIME_F_TRUNCATED and a counter, never a silent cut (invariant 8).
 *
 * Does not: bound GMime's own time (the indexer isolates the parse), unwrap
 * journal reports, or extract text from binary attachments.
 */
#include "config.h"

#include <gmime/gmime.h>
#include <pthread.h>
#include <string.h>

#include "vellum/mime.h"

/* References kept from one header: a thread hundreds deep is already
 * unusual; a 2 MB header line of ids is hostile. */
#define MIME_REFS_MAX 1000
/* Top-level headers listed (a real message has tens; the rest are counted
 * into the truncation flag). */
#define MIME_HEADERS_MAX 10000

struct mime_msg {
	GMimeMessage *msg;  /* NULL when GMime found no message (MIME_F_UNPARSED) */
	GMimeObject **objs; /* part num-1 -> entity, borrowed from msg */
	mime_info_t info;
};

/* Walk state for one parse. */
typedef struct walk {
	mime_msg_t *m;
	const mime_opts_t *opts;
	size_t objs_cap;
	bool have_text; /* a body part was already taken as text */
} walk_t;

static pthread_once_t mime_once = PTHREAD_ONCE_INIT;

static void mime_init_once(void)
{
	g_mime_init();
}

void mime_init(void)
{
	pthread_once(&mime_once, mime_init_once);
}

const char *mime_strerror(mime_status_t st)
{
	switch (st) {
	case MIME_OK: return "ok";
	case MIME_EINVAL: return "invalid argument";
	case MIME_ETOOBIG: return "message larger than the parser's limit";
	case MIME_ENOTFOUND: return "no such part";
	}
	return "unknown mime status";
}

/* ---- strings ---- */

/* A malloc'd copy that is valid UTF-8 (invalid sequences replaced). */
static char *dup_utf8(const char *s)
{
	if (!s)
		return NULL;
	size_t n = strlen(s);
	if (util_utf8_valid((const uint8_t *)s, n))
		return xstrndup(s, n);
	gchar *v = g_utf8_make_valid(s, (gssize)n);
	char *r = xstrdup(v);
	g_free(v);
	return r;
}

static void ascii_lower(char *s)
{
	for (; s && *s; s++)
		if (*s >= 'A' && *s <= 'Z')
			*s = (char)(*s - 'A' + 'a');
}

/* Appends p[0..n) as valid UTF-8 (replacing invalid sequences) to out. */
static void append_utf8(buf_t *out, const char *p, size_t n)
{
	if (util_utf8_valid((const uint8_t *)p, n)) {
		buf_append(out, p, n);
		return;
	}
	gchar *v = g_utf8_make_valid(p, (gssize)n);
	buf_append_str(out, v);
	g_free(v);
}

/* ---- addresses ---- */

static void addr_push(mime_addrlist_t *l, size_t *cap, const char *name, const char *addr,
                      uint32_t *flags)
{
	if (l->n >= MIME_ADDRS_MAX) {
		l->dropped++;
		*flags |= MIME_F_TRUNCATED;
		return;
	}
	if (l->n == *cap) {
		*cap = *cap ? *cap * 2 : 4;
		l->v = xrealloc(l->v, *cap * sizeof *l->v);
	}
	mime_addr_t *a = &l->v[l->n++];
	a->name = (name && *name) ? dup_utf8(name) : NULL;
	a->addr = dup_utf8(addr ? addr : "");
}

/* Flattens groups ("undisclosed-recipients:;" has no members; a group's
 * members are listed as if they stood alone). */
static void addr_collect(InternetAddressList *il, mime_addrlist_t *l, size_t *cap, uint32_t *flags,
                         int depth)
{
	int n = il ? internet_address_list_length(il) : 0;
	for (int i = 0; i < n; i++) {
		InternetAddress *ia = internet_address_list_get_address(il, i);
		if (INTERNET_ADDRESS_IS_MAILBOX(ia)) {
			addr_push(l, cap, internet_address_get_name(ia),
			          internet_address_mailbox_get_addr(INTERNET_ADDRESS_MAILBOX(ia)),
			          flags);
		} else if (INTERNET_ADDRESS_IS_GROUP(ia) && depth < 2) {
			addr_collect(internet_address_group_get_members(INTERNET_ADDRESS_GROUP(ia)),
			             l, cap, flags, depth + 1);
		}
	}
}

static void addrs_from(InternetAddressList *il, mime_addrlist_t *l, uint32_t *flags)
{
	size_t cap = 0;
	addr_collect(il, l, &cap, flags, 0);
}

static void addrlist_free(mime_addrlist_t *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].name);
		free(l->v[i].addr);
	}
	free(l->v);
}

void mime_addr_format(const mime_addr_t *a, buf_t *out)
{
	if (a->name && *a->name)
		buf_printf(out, "%s <%s>", a->name, a->addr);
	else
		buf_append_str(out, a->addr);
}

/* ---- headers ---- */

static bool has_header(GMimeObject *o, const char *name)
{
	return g_mime_object_get_header(o, name) != NULL;
}

static void headers_copy(mime_msg_t *m)
{
	GMimeHeaderList *hl = g_mime_object_get_header_list(GMIME_OBJECT(m->msg));
	int n = hl ? g_mime_header_list_get_count(hl) : 0;
	if (n <= 0)
		return;
	size_t keep = (size_t)n;
	if (keep > MIME_HEADERS_MAX) {
		keep = MIME_HEADERS_MAX;
		m->info.flags |= MIME_F_TRUNCATED;
	}
	m->info.headers = xcalloc(keep, sizeof *m->info.headers);
	for (size_t i = 0; i < keep; i++) {
		GMimeHeader *h = g_mime_header_list_get_header_at(hl, (int)i);
		const char *v = g_mime_header_get_value(h);
		m->info.headers[i].name = dup_utf8(g_mime_header_get_name(h));
		m->info.headers[i].value = dup_utf8(v ? v : "");
	}
	m->info.nheaders = keep;
}

static void references_copy(mime_msg_t *m, GMimeParserOptions *po)
{
	const char *v = g_mime_object_get_header(GMIME_OBJECT(m->msg), "References");
	GMimeReferences *refs = v ? g_mime_references_parse(po, v) : NULL;
	int n = refs ? g_mime_references_length(refs) : 0;
	size_t keep = n > 0 ? (size_t)n : 0;
	if (keep > MIME_REFS_MAX) {
		keep = MIME_REFS_MAX;
		m->info.flags |= MIME_F_TRUNCATED;
	}
	free(m->info.references);
	m->info.references = xcalloc(keep + 1, sizeof(char *));
	for (size_t i = 0; i < keep; i++)
		m->info.references[i] = dup_utf8(g_mime_references_get_message_id(refs, (int)i));
	if (refs)
		g_mime_references_free(refs);
}

static void envelope_copy(mime_msg_t *m, GMimeParserOptions *po)
{
	GMimeMessage *msg = m->msg;
	mime_info_t *in = &m->info;
	in->subject = dup_utf8(g_mime_message_get_subject(msg));
	addrs_from(g_mime_message_get_from(msg), &in->from, &in->flags);
	addrs_from(g_mime_message_get_sender(msg), &in->sender, &in->flags);
	addrs_from(g_mime_message_get_reply_to(msg), &in->reply_to, &in->flags);
	addrs_from(g_mime_message_get_to(msg), &in->to, &in->flags);
	addrs_from(g_mime_message_get_cc(msg), &in->cc, &in->flags);
	addrs_from(g_mime_message_get_bcc(msg), &in->bcc, &in->flags);

	GDateTime *dt = g_mime_message_get_date(msg);
	if (dt)
		in->date = (int64_t)g_date_time_to_unix(dt) * UTIL_US_PER_SEC +
		           g_date_time_get_microsecond(dt);
	else
		in->flags |= MIME_F_NO_DATE;

	in->message_id = dup_utf8(g_mime_message_get_message_id(msg));
	const char *irt = g_mime_object_get_header(GMIME_OBJECT(msg), "In-Reply-To");
	if (irt) {
		char *id = g_mime_utils_decode_message_id(irt);
		in->in_reply_to = dup_utf8(id);
		g_free(id);
	}
	references_copy(m, po);

	GMimeObject *o = GMIME_OBJECT(msg);
	if (has_header(o, "X-MS-Journal-Report") ||
	    has_header(o, "X-MS-Exchange-Organization-Journal-Report") ||
	    has_header(o, "X-WM-Journal-Report"))
		in->flags |= MIME_F_JOURNAL;
	headers_copy(m);
}

/* ---- the part tree ---- */

/* Decodes a leaf part's content (transfer encoding undone) into out, or just
 * counts its bytes when out is NULL.  Returns the decoded size. */
static uint64_t part_decode(GMimePart *part, buf_t *out)
{
	GMimeDataWrapper *w = g_mime_part_get_content(part);
	if (!w)
		return 0;
	if (!out) {
		GMimeStream *null = g_mime_stream_null_new();
		g_mime_data_wrapper_write_to_stream(w, null);
		uint64_t n = GMIME_STREAM_NULL(null)->written;
		g_object_unref(null);
		return n;
	}
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_data_wrapper_write_to_stream(w, mem);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	uint64_t n = ba->len;
	buf_append(out, ba->data, ba->len);
	g_object_unref(mem);
	return n;
}

static bool charset_is_utf8(const char *cs)
{
	return !cs || !g_ascii_strcasecmp(cs, "utf-8") || !g_ascii_strcasecmp(cs, "utf8") ||
	       !g_ascii_strcasecmp(cs, "us-ascii") || !g_ascii_strcasecmp(cs, "ascii");
}

/* Converts raw text in `charset` to UTF-8, appended to out.  Unknown
 * charsets and undeclared 8-bit text fall back to windows-1252 when the
 * bytes are not UTF-8 (the commonest legacy charset in mail). */
static void text_to_utf8(const char *charset, const uint8_t *p, size_t n, buf_t *out)
{
	if (charset_is_utf8(charset) && util_utf8_valid(p, n)) {
		buf_append(out, p, n);
		return;
	}
	GMimeFilter *f = NULL;
	if (!charset_is_utf8(charset))
		f = g_mime_filter_charset_new(charset, "UTF-8");
	if (!f && !util_utf8_valid(p, n))
		f = g_mime_filter_charset_new("windows-1252", "UTF-8");
	if (!f) {
		append_utf8(out, (const char *)p, n);
		return;
	}
	GMimeStream *mem = g_mime_stream_mem_new();
	GMimeStream *fs = g_mime_stream_filter_new(mem);
	g_mime_stream_filter_add(GMIME_STREAM_FILTER(fs), f);
	g_object_unref(f);
	g_mime_stream_write(fs, (const char *)p, n);
	g_mime_stream_flush(fs);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	append_utf8(out, (const char *)ba->data, ba->len);
	g_object_unref(fs);
	g_object_unref(mem);
}

/* Appends s[0..n) to the message text, honouring MIME_TEXT_MAX. */
static void text_add(mime_info_t *in, const char *s, size_t n)
{
	if (n == 0)
		return;
	size_t room = MIME_TEXT_MAX - in->text.len;
	if (in->text.len)
		room = room ? room - 1 : 0;
	if (n > room) {
		/* Cut at a character boundary so the text stays valid UTF-8. */
		size_t cut = room;
		while (cut > 0 && ((uint8_t)s[cut] & 0xC0) == 0x80)
			cut--;
		in->text_cut += n - cut;
		in->flags |= MIME_F_TRUNCATED;
		n = cut;
	}
	if (n == 0)
		return;
	if (in->text.len)
		buf_append_byte(&in->text, '\n');
	/* NUL bytes (hostile or broken mail) become spaces: the text is handed
	 * on as C strings. */
	size_t at = in->text.len;
	buf_append(&in->text, s, n);
	for (size_t i = at; i < in->text.len; i++)
		if (!in->text.data[i])
			in->text.data[i] = ' ';
}

/* Takes a body part's text (text/plain as is, text/html as text). */
static uint64_t part_take_text(walk_t *w, GMimePart *part, bool html)
{
	mime_info_t *in = &w->m->info;
	buf_t raw = {0}, utf = {0};
	uint64_t size = part_decode(part, &raw);
	const char *cs = g_mime_object_get_content_type_parameter(GMIME_OBJECT(part), "charset");
	text_to_utf8(cs, raw.data, raw.len, &utf);
	buf_free(&raw);
	if (html) {
		buf_t txt = {0};
		size_t room =
		    MIME_TEXT_MAX - (in->text.len < MIME_TEXT_MAX ? in->text.len : MIME_TEXT_MAX);
		size_t cut = mime_html_to_text((const char *)utf.data, utf.len, &txt, room);
		if (cut) {
			in->text_cut += cut;
			in->flags |= MIME_F_TRUNCATED;
		}
		text_add(in, (const char *)txt.data, txt.len);
		buf_free(&txt);
		if (w->opts->keep_html && !in->html)
			in->html = buf_steal(&utf);
	} else {
		text_add(in, (const char *)utf.data, utf.len);
	}
	buf_free(&utf);
	w->have_text = true;
	return size;
}

/* Adds an entity to the part list; returns its number, or 0 beyond the cap. */
static unsigned part_add(walk_t *w, GMimeObject *obj, unsigned parent, unsigned depth)
{
	mime_info_t *in = &w->m->info;
	if (in->nparts >= MIME_PARTS_MAX) {
		in->parts_dropped++;
		in->flags |= MIME_F_TRUNCATED;
		return 0;
	}
	if (in->nparts == w->objs_cap) {
		w->objs_cap = w->objs_cap ? w->objs_cap * 2 : 8;
		in->parts = xrealloc(in->parts, w->objs_cap * sizeof *in->parts);
		w->m->objs = xrealloc(w->m->objs, w->objs_cap * sizeof *w->m->objs);
	}
	mime_part_t *p = &in->parts[in->nparts];
	memset(p, 0, sizeof *p);
	w->m->objs[in->nparts] = obj;
	p->num = (unsigned)++in->nparts;
	p->parent = parent;
	p->depth = depth;
	GMimeContentType *ct = g_mime_object_get_content_type(obj);
	char *mt = ct ? g_mime_content_type_get_mime_type(ct) : NULL;
	p->content_type = dup_utf8(mt ? mt : "application/octet-stream");
	g_free(mt);
	ascii_lower(p->content_type);
	p->charset = dup_utf8(g_mime_object_get_content_type_parameter(obj, "charset"));
	p->content_id = dup_utf8(g_mime_object_get_content_id(obj));
	return p->num;
}

static void walk_object(walk_t *w, GMimeObject *obj, unsigned parent, unsigned depth, bool as_body,
                        bool in_related);

static bool is_type(GMimeObject *o, const char *type, const char *sub)
{
	GMimeContentType *ct = g_mime_object_get_content_type(o);
	return ct && g_mime_content_type_is_type(ct, type, sub);
}

/* A text part shown as the message body rather than as an attachment. */
static bool is_text_body(GMimeObject *o)
{
	if (!is_type(o, "text", "plain") && !is_type(o, "text", "html"))
		return false;
	const char *disp = g_mime_object_get_disposition(o);
	if (disp && !g_ascii_strcasecmp(disp, "attachment"))
		return false;
	return g_mime_part_get_filename(GMIME_PART(o)) == NULL;
}

static void walk_leaf(walk_t *w, GMimePart *part, unsigned num, bool as_body, bool in_related)
{
	mime_part_t *p = &w->m->info.parts[num - 1];
	GMimeObject *o = GMIME_OBJECT(part);
	p->filename = dup_utf8(g_mime_part_get_filename(part));
	if (is_text_body(o)) {
		if (as_body) {
			p->body = true;
			p->size = part_take_text(w, part, is_type(o, "text", "html"));
			return;
		}
		/* The unchosen side of an alternative: neither body nor attachment. */
	} else {
		const char *disp = g_mime_object_get_disposition(o);
		bool inline_cid = in_related && p->content_id &&
		                  !(disp && !g_ascii_strcasecmp(disp, "attachment"));
		p->attachment = !inline_cid;
		if (p->attachment)
			w->m->info.attachment_count++;
		if (is_type(o, "application", "pkcs7-mime") ||
		    is_type(o, "application", "pgp-encrypted"))
			w->m->info.flags |= MIME_F_ENCRYPTED;
	}
	if (!w->opts->no_part_sizes)
		p->size = part_decode(part, NULL);
}

/* In multipart/alternative the body is the plain-text child if there is one
 * (it is what the sender wrote for text readers), else the last child (the
 * richest, RFC 2046 §5.1.4). */
static int alternative_pick(GMimeMultipart *mp)
{
	int n = g_mime_multipart_get_count(mp), last = n - 1;
	for (int i = 0; i < n; i++)
		if (is_type(g_mime_multipart_get_part(mp, i), "text", "plain"))
			return i;
	return last;
}

static void walk_multipart(walk_t *w, GMimeMultipart *mp, unsigned num, unsigned depth,
                           bool as_body)
{
	GMimeObject *o = GMIME_OBJECT(mp);
	int n = g_mime_multipart_get_count(mp);
	bool alt = is_type(o, "multipart", "alternative");
	bool related = is_type(o, "multipart", "related");
	if (GMIME_IS_MULTIPART_ENCRYPTED(mp))
		w->m->info.flags |= MIME_F_ENCRYPTED;
	if (n == 0 && as_body) {
		/* No part matched the declared boundary: everything sits in the
		 * prologue.  Index it rather than lose the message's text. */
		const char *pro = g_mime_multipart_get_prologue(mp);
		if (pro) {
			buf_t utf = {0};
			text_to_utf8(NULL, (const uint8_t *)pro, strlen(pro), &utf);
			text_add(&w->m->info, (const char *)utf.data, utf.len);
			buf_free(&utf);
		}
	}
	int pick = alt ? alternative_pick(mp) : -1;
	for (int i = 0; i < n; i++) {
		bool body = as_body && (!alt || i == pick);
		/* In multipart/related only the root (first) part is the body. */
		if (related && i > 0)
			body = false;
		walk_object(w, g_mime_multipart_get_part(mp, i), num, depth + 1, body, related);
	}
}

static void walk_object(walk_t *w, GMimeObject *obj, unsigned parent, unsigned depth, bool as_body,
                        bool in_related)
{
	if (!obj)
		return;
	if (depth > MIME_DEPTH_MAX) {
		w->m->info.flags |= MIME_F_TRUNCATED | MIME_F_MALFORMED;
		w->m->info.parts_dropped++;
		return;
	}
	unsigned num = part_add(w, obj, parent, depth);
	if (!num)
		return;
	mime_part_t *p = &w->m->info.parts[num - 1];
	if (GMIME_IS_MULTIPART(obj)) {
		p->container = true;
		walk_multipart(w, GMIME_MULTIPART(obj), num, depth, as_body);
	} else if (GMIME_IS_MESSAGE_PART(obj)) {
		/* Forwarded mail: listed as an attachment, its text indexed too. */
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(obj));
		p->container = true;
		p->attachment = true;
		w->m->info.attachment_count++;
		if (inner) {
			const char *subj = g_mime_message_get_subject(inner);
			if (subj)
				text_add(&w->m->info, subj, strlen(subj));
			walk_object(w, g_mime_message_get_mime_part(inner), num, depth + 1, true,
			            false);
		}
	} else if (GMIME_IS_PART(obj)) {
		walk_leaf(w, GMIME_PART(obj), num, as_body, in_related);
	}
}

/* ---- parse ---- */

static void on_warning(gint64 offset, GMimeParserWarning code, const gchar *item, gpointer arg)
{
	(void)offset;
	(void)item;
	uint32_t *flags = arg;
	switch (code) {
	case GMIME_WARN_MALFORMED_MULTIPART:
	case GMIME_WARN_TRUNCATED_MESSAGE:
	case GMIME_WARN_MALFORMED_MESSAGE:
	case GMIME_CRIT_INVALID_HEADER_NAME:
	case GMIME_CRIT_MULTIPART_WITHOUT_BOUNDARY:
	case GMIME_CRIT_NESTING_OVERFLOW:
	case GMIME_CRIT_PART_WITHOUT_HEADERS_OR_CONTENT: *flags |= MIME_F_MALFORMED; break;
	default: break;
	}
}

static GMimeParserOptions *parser_options(uint32_t *flags)
{
	GMimeParserOptions *po = g_mime_parser_options_new();
	/* Journaled mail is whatever senders produced: accept what a mail client
	 * would display.  Undeclared 8-bit header text is tried as UTF-8, then
	 * windows-1252 (a superset of Latin-1 for printable text). */
	static const char *fallback[] = {"UTF-8", "windows-1252", NULL};
	g_mime_parser_options_set_rfc2047_compliance_mode(po, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_address_compliance_mode(po, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_parameter_compliance_mode(po, GMIME_RFC_COMPLIANCE_LOOSE);
	g_mime_parser_options_set_allow_addresses_without_domain(po, TRUE);
	g_mime_parser_options_set_fallback_charsets(po, fallback);
	g_mime_parser_options_set_warning_callback(po, on_warning, flags);
	return po;
}

mime_status_t mime_parse(const void *p, size_t n, const mime_opts_t *opts, mime_msg_t **out)
{
	static const mime_opts_t defaults;
	*out = NULL;
	if (!p && n)
		return MIME_EINVAL;
	if (n > MIME_INPUT_MAX)
		return MIME_ETOOBIG;
	mime_init();
	mime_msg_t *m = xcalloc(1, sizeof *m);
	m->info.references = xcalloc(1, sizeof(char *));
	GMimeParserOptions *po = parser_options(&m->info.flags);
	GMimeStream *stream = g_mime_stream_mem_new_with_buffer(n ? p : "", n);
	GMimeParser *parser = g_mime_parser_new_with_stream(stream);
	g_mime_parser_set_format(parser, GMIME_FORMAT_MESSAGE);
	m->msg = g_mime_parser_construct_message(parser, po);
	g_object_unref(parser);
	g_object_unref(stream);
	if (!m->msg) {
		m->info.flags |= MIME_F_UNPARSED | MIME_F_NO_DATE;
	} else {
		walk_t w = {.m = m, .opts = opts ? opts : &defaults};
		envelope_copy(m, po);
		walk_object(&w, g_mime_message_get_mime_part(m->msg), 0, 0, true, false);
	}
	/* GMime objects keep copies of the options, warning callback included;
	 * its argument points into m, which outlives m->msg. */
	g_mime_parser_options_free(po);
	*out = m;
	return MIME_OK;
}

const mime_info_t *mime_msg_info(const mime_msg_t *m)
{
	return &m->info;
}

mime_status_t mime_part_content(const mime_msg_t *m, unsigned num, buf_t *out)
{
	if (!m || num == 0 || num > m->info.nparts)
		return MIME_ENOTFOUND;
	GMimeObject *o = m->objs[num - 1];
	if (GMIME_IS_PART(o)) {
		part_decode(GMIME_PART(o), out);
		return MIME_OK;
	}
	if (GMIME_IS_MESSAGE_PART(o)) {
		GMimeMessage *inner = g_mime_message_part_get_message(GMIME_MESSAGE_PART(o));
		if (!inner)
			return MIME_OK;
		o = GMIME_OBJECT(inner);
	}
	GMimeStream *mem = g_mime_stream_mem_new();
	g_mime_object_write_to_stream(o, NULL, mem);
	GByteArray *ba = g_mime_stream_mem_get_byte_array(GMIME_STREAM_MEM(mem));
	buf_append(out, ba->data, ba->len);
	g_object_unref(mem);
	return MIME_OK;
}

void mime_msg_free(mime_msg_t *m)
{
	if (!m)
		return;
	mime_info_t *in = &m->info;
	free(in->subject);
	addrlist_free(&in->from);
	addrlist_free(&in->sender);
	addrlist_free(&in->reply_to);
	addrlist_free(&in->to);
	addrlist_free(&in->cc);
	addrlist_free(&in->bcc);
	free(in->message_id);
	free(in->in_reply_to);
	util_strv_free(in->references);
	for (size_t i = 0; i < in->nheaders; i++) {
		free(in->headers[i].name);
		free(in->headers[i].value);
	}
	free(in->headers);
	for (size_t i = 0; i < in->nparts; i++) {
		free(in->parts[i].content_type);
		free(in->parts[i].charset);
		free(in->parts[i].filename);
		free(in->parts[i].content_id);
	}
	free(in->parts);
	buf_free(&in->text);
	free(in->html);
	free(m->objs);
	if (m->msg)
		g_object_unref(m->msg);
	free(m);
}
