/* mime_html.c — HTML to plain text for indexing and the text view.
 *
 * Does: a single forward pass over (possibly broken, possibly hostile) HTML:
 * drop tags and comments, drop the content of <script>, <style>, <head>,
 * <template>, <noscript>; decode numeric and common named character
 * references; turn block-level elements into line breaks; collapse runs of
 * white space.  Linear time, no recursion, no allocation beyond the output.
 *
 * Does not: build a DOM, honour CSS (hidden text is still indexed, which is
 * what an auditor wants), or sanitise HTML for display (the HTTP layer serves
 * HTML only inside a sandboxed iframe with a strict CSP).
 */
#include "config.h"

#include <string.h>
#include <strings.h>

#include "vellum/mime.h"

/* Longest tag or entity name we look at; longer ones are not ones we know. */
#define HTML_NAME_MAX 16

typedef struct html_out {
	buf_t *b;
	size_t max;     /* bytes we may still append */
	size_t dropped; /* bytes that did not fit */
	int pending;    /* 0 none, 1 space, 2 newline, 3 blank line: emitted lazily */
	bool started;   /* something was written (no leading white space) */
} html_out_t;

static void out_bytes(html_out_t *o, const char *p, size_t n)
{
	if (o->pending && o->started) {
		const char *sep = o->pending == 1 ? " " : o->pending == 2 ? "\n" : "\n\n";
		size_t sl = strlen(sep);
		if (sl <= o->max) {
			buf_append(o->b, sep, sl);
			o->max -= sl;
		} else {
			o->dropped += sl;
		}
	}
	o->pending = 0;
	o->started = true;
	if (n <= o->max) {
		buf_append(o->b, p, n);
		o->max -= n;
	} else {
		o->dropped += n;
		o->max = 0;
	}
}

static void out_break(html_out_t *o, int level)
{
	if (o->pending < level)
		o->pending = level;
}

static void out_codepoint(html_out_t *o, uint32_t c)
{
	char u[4];
	size_t n;
	if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		c = 0xFFFD;
	if (c == 0xA0 || c == '\t' || c == '\n' || c == '\r' || c == ' ') {
		out_break(o, 1);
		return;
	}
	if (c < 0x80) {
		u[0] = (char)c;
		n = 1;
	} else if (c < 0x800) {
		u[0] = (char)(0xC0 | (c >> 6));
		u[1] = (char)(0x80 | (c & 0x3F));
		n = 2;
	} else if (c < 0x10000) {
		u[0] = (char)(0xE0 | (c >> 12));
		u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		u[2] = (char)(0x80 | (c & 0x3F));
		n = 3;
	} else {
		u[0] = (char)(0xF0 | (c >> 18));
		u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		u[3] = (char)(0x80 | (c & 0x3F));
		n = 4;
	}
	out_bytes(o, u, n);
}

static const struct {
	const char *name;
	uint32_t cp;
} html_entities[] = {
    {"amp", '&'},      {"lt", '<'},       {"gt", '>'},       {"quot", '"'},     {"apos", '\''},
    {"nbsp", 0xA0},    {"copy", 0xA9},    {"reg", 0xAE},     {"trade", 0x2122}, {"hellip", 0x2026},
    {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"ldquo", 0x201C},
    {"rdquo", 0x201D}, {"bull", 0x2022},  {"euro", 0x20AC},  {"pound", 0xA3},   {"yen", 0xA5},
    {"cent", 0xA2},    {"sect", 0xA7},    {"deg", 0xB0},     {"middot", 0xB7},  {"laquo", 0xAB},
    {"raquo", 0xBB},   {"times", 0xD7},   {"eacute", 0xE9},  {"egrave", 0xE8},  {"agrave", 0xE0},
    {"auml", 0xE4},    {"ouml", 0xF6},    {"uuml", 0xFC},    {"Auml", 0xC4},    {"Ouml", 0xD6},
    {"Uuml", 0xDC},    {"szlig", 0xDF},   {"ccedil", 0xE7},  {"zwnj", 0x200C},  {"zwj", 0x200D},
};

/* Decodes a character reference at s[i] == '&'.  Returns the bytes consumed
 * (0 when it is not one we know: the '&' is then literal). */
static size_t entity(const char *s, size_t i, size_t n, uint32_t *cp)
{
	size_t j = i + 1;
	if (j < n && s[j] == '#') {
		j++;
		bool hex = j < n && (s[j] == 'x' || s[j] == 'X');
		if (hex)
			j++;
		uint32_t v = 0;
		size_t digits = 0;
		for (; j < n && digits < 8; j++, digits++) {
			char c = s[j];
			int d = c >= '0' && c <= '9'          ? c - '0'
			        : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
			        : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10
			                                      : -1;
			if (d < 0)
				break;
			v = v * (hex ? 16 : 10) + (uint32_t)d;
		}
		if (!digits)
			return 0;
		if (j < n && s[j] == ';')
			j++;
		*cp = v;
		return j - i;
	}
	size_t k = j;
	while (k < n && k - j < HTML_NAME_MAX &&
	       ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z') ||
	        (s[k] >= '0' && s[k] <= '9')))
		k++;
	size_t len = k - j;
	for (size_t e = 0; len && e < sizeof html_entities / sizeof html_entities[0]; e++) {
		if (strlen(html_entities[e].name) == len &&
		    !memcmp(html_entities[e].name, s + j, len)) {
			*cp = html_entities[e].cp;
			return (k < n && s[k] == ';' ? k + 1 : k) - i;
		}
	}
	return 0;
}

static bool name_is(const char *name, const char *const *list)
{
	for (; *list; list++)
		if (!strcasecmp(name, *list))
			return true;
	return false;
}

static const char *const html_skip_content[] = {"script",   "style", "head", "template",
                                                "noscript", "title", NULL};
static const char *const html_blocks[] = {
    "p",          "div",    "br",      "tr",     "li",   "ul",      "ol",
    "table",      "h1",     "h2",      "h3",     "h4",   "h5",      "h6",
    "blockquote", "pre",    "hr",      "dt",     "dd",   "section", "article",
    "header",     "footer", "address", "center", "form", "body",    NULL};

/* Index just past the '>' that ends the tag starting at s[i] == '<',
 * honouring quoted attribute values; n when unterminated. */
static size_t tag_end(const char *s, size_t i, size_t n)
{
	char quote = 0;
	for (size_t j = i + 1; j < n; j++) {
		if (quote) {
			if (s[j] == quote)
				quote = 0;
		} else if (s[j] == '"' || s[j] == '\'') {
			quote = s[j];
		} else if (s[j] == '>') {
			return j + 1;
		}
	}
	return n;
}

/* Index just past "</name ...>" (case-insensitive) from i; n if absent. */
static size_t skip_to_close(const char *s, size_t i, size_t n, const char *name)
{
	size_t nl = strlen(name);
	for (size_t j = i; j + 2 + nl <= n; j++) {
		if (s[j] == '<' && s[j + 1] == '/' && !strncasecmp(s + j + 2, name, nl)) {
			char c = j + 2 + nl < n ? s[j + 2 + nl] : '>';
			if (c == '>' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '/')
				return tag_end(s, j, n);
		}
	}
	return n;
}

/* Handles the markup at s[i] == '<'; returns the index to continue from. */
static size_t markup(html_out_t *o, const char *s, size_t i, size_t n)
{
	if (i + 3 < n && !memcmp(s + i, "<!--", 4)) {
		const char *end = memmem(s + i + 4, n - i - 4, "-->", 3);
		return end ? (size_t)(end - s) + 3 : n;
	}
	size_t j = i + 1;
	bool closing = j < n && s[j] == '/';
	if (closing)
		j++;
	char name[HTML_NAME_MAX + 1];
	size_t k = 0;
	while (j < n && k < HTML_NAME_MAX &&
	       ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
	        (s[j] >= '0' && s[j] <= '9')))
		name[k++] = s[j++];
	name[k] = 0;
	if (k == 0 && !(j < n && (s[j] == '!' || s[j] == '?'))) {
		/* "a < b": not markup. */
		out_bytes(o, "<", 1);
		return i + 1;
	}
	size_t end = tag_end(s, i, n);
	if (!closing && name_is(name, html_skip_content))
		return skip_to_close(s, end, n, name);
	if (name_is(name, html_blocks))
		out_break(o, !strcasecmp(name, "p") ? 3 : 2);
	else if (!strcasecmp(name, "td") || !strcasecmp(name, "th") || !strcasecmp(name, "img"))
		out_break(o, 1);
	return end;
}

size_t mime_html_to_text(const char *s, size_t n, buf_t *out, size_t max)
{
	html_out_t o = {.b = out, .max = max};
	size_t i = 0;
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		if (c == '<') {
			i = markup(&o, s, i, n);
		} else if (c == '&') {
			uint32_t cp;
			size_t used = entity(s, i, n, &cp);
			if (used) {
				out_codepoint(&o, cp);
				i += used;
			} else {
				out_bytes(&o, "&", 1);
				i++;
			}
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == 0) {
			out_break(&o, 1);
			i++;
		} else {
			/* A run of ordinary text at once. */
			size_t j = i + 1;
			while (j < n && s[j] != '<' && s[j] != '&' && s[j] != ' ' && s[j] != '\t' &&
			       s[j] != '\n' && s[j] != '\r' && s[j] != '\f' && s[j] != 0)
				j++;
			out_bytes(&o, s + i, j - i);
			i = j;
		}
	}
	return o.dropped;
}
