/* indexer_doc.c — from a parsed message and its envelope to the document the
 * index stores (ix_doc_t): fields to index, result-list fields, flags.
 *
 * Does: choose the date (Date header, else the received time, flagged),
 * list addresses by role (envelope recipients as journal recipients), name
 * attachments, format the result list's from/to and snippet, carry every
 * truncation into IX_F_TRUNCATED.  Does not: parse (mime.c) or write
 * (xapian.cc).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "indexer_private.h"

/* Envelope strings are whatever the SMTP client sent: the result list gets
 * them as valid UTF-8, other bytes shown as '?'. */
static void append_clean(buf_t *b, const char *s)
{
	size_t n = strlen(s);
	if (util_utf8_valid((const uint8_t *)s, n)) {
		buf_append(b, s, n);
		return;
	}
	for (size_t i = 0; i < n; i++)
		buf_append_byte(b, (uint8_t)s[i] < 0x80 ? (uint8_t)s[i] : '?');
}

static char *clean_dup(const char *s)
{
	buf_t b = {0};
	append_clean(&b, s ? s : "");
	return b.data ? buf_steal(&b) : xstrdup("");
}

/* The subject for the result list: at most IX_SUBJECT_DISPLAY_MAX bytes,
 * cut on a character boundary and marked. */
static char *subject_display(const char *s)
{
	size_t n = strlen(s);
	if (n <= IX_SUBJECT_DISPLAY_MAX)
		return NULL;
	size_t cut = IX_SUBJECT_DISPLAY_MAX - 3;
	while (cut > 0 && ((uint8_t)s[cut] & 0xC0) == 0x80)
		cut--;
	return xasprintf("%.*s...", (int)cut, s);
}

static ix_addr_t *addrs_of(const mime_addrlist_t *l)
{
	ix_addr_t *v = xcalloc(l->n ? l->n : 1, sizeof *v);
	for (size_t i = 0; i < l->n; i++) {
		v[i].name = l->v[i].name;
		v[i].addr = l->v[i].addr;
	}
	return v;
}

/* "a, Bob <b@x>, ... (+N more)" within IX_TO_DISPLAY_MAX bytes. */
static char *to_display(const mime_addrlist_t *l, const indexer_env_t *env)
{
	buf_t b = {0}, one = {0};
	size_t n = l->n ? l->n : env->nrcpt, shown = 0;
	for (size_t i = 0; i < n; i++) {
		buf_reset(&one);
		if (l->n)
			mime_addr_format(&l->v[i], &one);
		else
			append_clean(&one, env->rcpt[i]);
		if (shown && b.len + 2 + one.len > IX_TO_DISPLAY_MAX - 24)
			break;
		if (shown)
			buf_append_str(&b, ", ");
		buf_append(&b, one.data, one.len);
		shown++;
	}
	size_t more = n - shown + (l->n ? l->dropped : 0);
	if (more)
		buf_printf(&b, " (+%zu more)", more);
	buf_free(&one);
	return buf_steal(&b);
}

/* The first IX_SNIPPET_MAX bytes of text, white space collapsed, cut on a
 * character boundary. */
static char *snippet_of(const buf_t *text)
{
	buf_t b = {0};
	bool space = false;
	for (size_t i = 0; i < text->len && b.len < IX_SNIPPET_MAX; i++) {
		uint8_t c = text->data[i];
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
			space = b.len > 0;
			continue;
		}
		if (space)
			buf_append_byte(&b, ' ');
		space = false;
		buf_append_byte(&b, c);
	}
	size_t cut = b.len;
	if (cut >= IX_SNIPPET_MAX) {
		cut = IX_SNIPPET_MAX;
		while (cut > 0 && (b.data[cut] & 0xC0) == 0x80)
			cut--;
	}
	b.len = cut;
	if (b.data)
		b.data[cut] = 0;
	return b.data ? buf_steal(&b) : xstrdup("");
}

static uint32_t flags_of(const mime_info_t *mi)
{
	uint32_t f = 0;
	if (!mi)
		return IX_F_UNPARSED | IX_F_NO_DATE;
	if (mi->flags & MIME_F_UNPARSED)
		f |= IX_F_UNPARSED;
	if (mi->flags & MIME_F_NO_DATE)
		f |= IX_F_NO_DATE;
	if (mi->flags & MIME_F_TRUNCATED)
		f |= IX_F_TRUNCATED;
	if (mi->flags & MIME_F_JOURNAL)
		f |= IX_F_JOURNAL;
	return f;
}

static void envelope_only(indexer_doc_t *d, const indexer_env_t *env)
{
	static const mime_addrlist_t none;
	d->from_display = clean_dup(env->mail_from);
	d->to_display = to_display(&none, env);
	d->snippet = xstrdup("");
}

void indexer_doc_build(indexer_doc_t *d, const indexer_env_t *env, const mime_info_t *mi,
                       uint32_t extra_flags)
{
	memset(d, 0, sizeof *d);
	ix_doc_t *x = &d->doc;
	x->archive = env->archive;
	x->seq = env->seq;
	x->record_seq = env->record_seq;
	x->received = env->received;
	x->size = env->size;
	x->flags = flags_of(mi) | extra_flags;
	x->date = (x->flags & IX_F_NO_DATE) ? env->received : mi->date;

	d->addrs[IX_ADDR_JOURNAL] = xcalloc(env->nrcpt ? env->nrcpt : 1, sizeof(ix_addr_t));
	for (size_t i = 0; i < env->nrcpt; i++)
		d->addrs[IX_ADDR_JOURNAL][i].addr = env->rcpt[i];
	x->addrs[IX_ADDR_JOURNAL] = d->addrs[IX_ADDR_JOURNAL];
	x->naddrs[IX_ADDR_JOURNAL] = env->nrcpt;
	if (!mi || (mi->flags & MIME_F_UNPARSED)) {
		envelope_only(d, env);
	} else {
		const mime_addrlist_t *lists[] = {&mi->from, &mi->to, &mi->cc, &mi->bcc};
		for (int k = 0; k < 4; k++) {
			d->addrs[k] = addrs_of(lists[k]);
			x->addrs[k] = d->addrs[k];
			x->naddrs[k] = lists[k]->n;
		}
		buf_t from = {0};
		if (mi->from.n)
			mime_addr_format(&mi->from.v[0], &from);
		else
			append_clean(&from, env->mail_from ? env->mail_from : "");
		d->from_display = buf_steal(&from);
		d->to_display = to_display(&mi->to, env);
		d->snippet = snippet_of(&mi->text);
		x->subject = mi->subject;
		d->subject_display = mi->subject ? subject_display(mi->subject) : NULL;
		x->subject_display = d->subject_display;
		x->message_id = mi->message_id;
		x->body = (const char *)mi->text.data;
		x->body_len = mi->text.len;
		d->filenames = xcalloc(mi->nparts ? mi->nparts : 1, sizeof(char *));
		for (size_t i = 0; i < mi->nparts; i++)
			if (mi->parts[i].filename)
				d->filenames[x->nfilenames++] = mi->parts[i].filename;
		x->filenames = d->filenames;
		x->attachment_count = mi->attachment_count;
	}
	x->from_display = d->from_display;
	x->to_display = d->to_display;
	x->snippet = d->snippet;
}

void indexer_doc_free(indexer_doc_t *d)
{
	for (int k = 0; k < IX_ADDR_KINDS; k++)
		free(d->addrs[k]);
	free(d->filenames);
	free(d->from_display);
	free(d->to_display);
	free(d->snippet);
	free(d->subject_display);
	memset(d, 0, sizeof *d);
}
