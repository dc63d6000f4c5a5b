/* xapian.cc — the search index over Xapian: the only C++ file in Vellum and
 * the only includer of <xapian.h>.  Implements include/vellum/ix.h.
 *
 * Does: map a message (ix_doc_t) to a Xapian document in its shard
 * (<index_dir>/<archive>/<YYYY-MM>, month of received time, UTC); keep
 * shards' checkpoints in their metadata, committed with the documents;
 * build queries with the QueryParser plus one FieldProcessor per field of
 * the query language (ix_private.h); search the shards a caller may see.
 * Every exported function is one try/catch: no exception crosses into C.
 *
 * Does not: parse mail (mime.c), check query syntax (query.c), or decide
 * what to index when (indexer.c).
 *
 * Terms (all lower case; boolean terms cut to TERM_MAX bytes, the same way
 * when indexing and when querying):
 *   Q<archive>-<seq>        the document's key
 *   XA<archive>             archive:
 *   S<word>                 subject words (positions); also unprefixed
 *   <word>                  subject, body, attachment names and address words
 *   XF<addr> XFD<domain> XFW<word>   From: address, its domains, name/address words
 *   XT.. XC.. XB.. XJ..     the same for To, Cc, Bcc, journal/envelope recipients
 *   XN<word>                attachment file names (filename:, attachment:)
 *   XM<message-id>          message-id:
 *   K<tag>                  has:attachment, is:journal|quarantined|truncated|nodate|unparsed
 * Values: 0 date, 1 received (µs, sortable_serialise), 2 size (bytes).
 * Metadata: vellum.format, vellum.done, vellum.from (see ix_writer_commit).
 * Document data: record locator + result-list fields (data_encode below).
 */
#include "config.h"

#include <dirent.h>
#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <xapian.h>

extern "C" {
#include "vellum/ix.h"
#include "vellum/log.h"
#include "vellum/util.h"
}
#include "ix_private.h"

namespace
{

const Xapian::valueno SLOT_DATE = 0, SLOT_RECEIVED = 1, SLOT_SIZE = 2;
const char META_FORMAT[] = "vellum.format", META_DONE[] = "vellum.done",
           META_FROM[] = "vellum.from";
const char INDEX_FORMAT[] = "1";
/* Xapian refuses terms over 245 bytes; boolean terms are cut below that. */
const size_t TERM_MAX = 240;
/* Shards a writer keeps open: the current month and a few older ones that
 * late duplicates update.  Each open shard holds file descriptors and a
 * write lock. */
const size_t WRITER_SHARDS_OPEN_MAX = 16;
/* Documents counted exactly beyond the requested page; past that the total
 * is Xapian's estimate and marked so. */
const Xapian::doccount COUNT_EXACT_EXTRA = 10000;
/* Journal recipients of later arrivals get positions far from the first
 * arrival's text so that no phrase spans the two. */
const Xapian::termpos ARRIVAL_TERMPOS = 1u << 30;

struct AddrPrefix {
	const char *addr, *domain, *words;
};
const AddrPrefix ADDR_PREFIX[IX_ADDR_KINDS] = {
    {"XF", "XFD", "XFW"}, {"XT", "XTD", "XTW"}, {"XC", "XCD", "XCW"},
    {"XB", "XBD", "XBW"}, {"XJ", "XJD", "XJW"},
};

/* ---- errors ---- */

struct IxError {
	ix_status_t st;
	std::string msg;
};

void set_err(char **err, const std::string &msg)
{
	if (err)
		*err = xstrdup(msg.c_str());
}

ix_status_t fail(char **err, ix_status_t st, const std::string &msg)
{
	if (st == IX_EINTERNAL)
		log_error("ix.internal", "err=%s", msg.c_str());
	set_err(err, msg);
	return st;
}

ix_status_t fail_xapian(char **err, ix_status_t st, const Xapian::Error &e)
{
	return fail(err, st, e.get_description());
}

/* The catch clauses every exported function ends with.  Xapian's exception
 * classes are not polymorphic: one clause per class, most derived first. */
#define IX_CATCH(err)                                                \
	catch (const IxError &e)                                     \
	{                                                            \
		return fail(err, e.st, e.msg);                       \
	}                                                            \
	catch (const Xapian::QueryParserError &e)                    \
	{                                                            \
		return fail_xapian(err, IX_EQUERY, e);               \
	}                                                            \
	catch (const Xapian::DatabaseLockError &e)                   \
	{                                                            \
		return fail_xapian(err, IX_ELOCKED, e);              \
	}                                                            \
	catch (const Xapian::DatabaseCorruptError &e)                \
	{                                                            \
		return fail_xapian(err, IX_ECORRUPT, e);             \
	}                                                            \
	catch (const Xapian::DatabaseModifiedError &e)               \
	{                                                            \
		return fail_xapian(err, IX_EMODIFIED, e);            \
	}                                                            \
	catch (const Xapian::DocNotFoundError &e)                    \
	{                                                            \
		return fail_xapian(err, IX_ENOTFOUND, e);            \
	}                                                            \
	catch (const Xapian::DatabaseError &e)                       \
	{                                                            \
		return fail_xapian(err, IX_EIO, e);                  \
	}                                                            \
	catch (const Xapian::NetworkError &e)                        \
	{                                                            \
		return fail_xapian(err, IX_EIO, e);                  \
	}                                                            \
	catch (const Xapian::InvalidArgumentError &e)                \
	{                                                            \
		return fail_xapian(err, IX_EINVAL, e);               \
	}                                                            \
	catch (const Xapian::Error &e)                               \
	{                                                            \
		return fail_xapian(err, IX_EINTERNAL, e);            \
	}                                                            \
	catch (const std::bad_alloc &)                               \
	{                                                            \
		return fail(err, IX_EINTERNAL, "out of memory");     \
	}                                                            \
	catch (const std::exception &e)                              \
	{                                                            \
		return fail(err, IX_EINTERNAL, e.what());            \
	}                                                            \
	catch (...)                                                  \
	{                                                            \
		return fail(err, IX_EINTERNAL, "unknown exception"); \
	}

/* ---- names and terms ---- */

bool archive_name_ok(const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
		if (!alnum && (i == 0 || (c != '.' && c != '_' && c != '-')))
			return false;
	}
	return true;
}

void need_archive(const char *archive)
{
	if (!archive_name_ok(archive))
		throw IxError{IX_EINVAL,
		              std::string("bad archive name '") + (archive ? archive : "") + "'"};
}

std::string month_of(int64_t us)
{
	time_t t = us > 0 ? (time_t)(us / UTIL_US_PER_SEC) : 0;
	struct tm tm;
	gmtime_r(&t, &tm);
	char m[32];
	snprintf(m, sizeof m, "%04d-%02d", (tm.tm_year + 1900) % 10000, tm.tm_mon % 12 + 1);
	return m;
}

bool month_name_ok(const char *s)
{
	return strlen(s) == 7 && isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) &&
	       isdigit((unsigned char)s[2]) && isdigit((unsigned char)s[3]) && s[4] == '-' &&
	       isdigit((unsigned char)s[5]) && isdigit((unsigned char)s[6]);
}

/* prefix + lower-case value, cut at TERM_MAX on a character boundary. */
std::string bterm(const char *prefix, const std::string &v)
{
	std::string t = prefix + Xapian::Unicode::tolower(v);
	if (t.size() > TERM_MAX) {
		size_t cut = TERM_MAX;
		while (cut > 0 && ((unsigned char)t[cut] & 0xC0) == 0x80)
			cut--;
		t.resize(cut);
	}
	return t;
}

std::string doc_key(const char *archive, uint64_t seq)
{
	return std::string("Q") + archive + "-" + std::to_string(seq);
}

std::vector<std::string> list_dir(const std::string &dir, bool (*keep)(const char *))
{
	std::vector<std::string> out;
	DIR *d = opendir(dir.c_str());
	if (!d)
		return out;
	while (struct dirent *e = readdir(d))
		if (keep(e->d_name))
			out.push_back(e->d_name);
	closedir(d);
	std::sort(out.begin(), out.end());
	return out;
}

std::vector<std::string> shard_months(const std::string &index_dir, const char *archive)
{
	return list_dir(index_dir + "/" + archive, month_name_ok);
}

/* ---- document data ----
 * Format 1: 'V' 1, then varints seq, record_seq, zigzag date, zigzag
 * received, size, attachment_count, flags, then length-prefixed strings
 * archive, from, to, subject, snippet. */

void put_varint(std::string &s, uint64_t v)
{
	while (v >= 0x80) {
		s.push_back((char)(0x80 | (v & 0x7F)));
		v >>= 7;
	}
	s.push_back((char)v);
}

uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

void put_str(std::string &s, const char *p)
{
	size_t n = p ? strlen(p) : 0;
	put_varint(s, n);
	s.append(p ? p : "", n);
}

std::string data_encode(const ix_doc_t *d)
{
	std::string s("V\x01", 2);
	put_varint(s, d->seq);
	put_varint(s, d->record_seq);
	put_varint(s, zigzag(d->date));
	put_varint(s, zigzag(d->received));
	put_varint(s, d->size);
	put_varint(s, d->attachment_count);
	put_varint(s, d->flags);
	put_str(s, d->archive);
	put_str(s, d->from_display);
	put_str(s, d->to_display);
	put_str(s, d->subject_display ? d->subject_display : d->subject);
	put_str(s, d->snippet);
	return s;
}

struct Reader {
	const std::string &s;
	size_t i;
	uint64_t varint()
	{
		uint64_t v = 0;
		for (int shift = 0; shift < 64; shift += 7) {
			if (i >= s.size())
				throw IxError{IX_ECORRUPT, "document data truncated"};
			unsigned char c = (unsigned char)s[i++];
			v |= (uint64_t)(c & 0x7F) << shift;
			if (!(c & 0x80))
				return v;
		}
		throw IxError{IX_ECORRUPT, "document data: bad number"};
	}
	char *str()
	{
		uint64_t n = varint();
		if (n > s.size() - i)
			throw IxError{IX_ECORRUPT, "document data: string past the end"};
		char *p = xstrndup(s.data() + i, (size_t)n);
		i += (size_t)n;
		return p;
	}
};

void hit_free(ix_hit_t *h)
{
	free(h->id);
	free(h->archive);
	free(h->from);
	free(h->to);
	free(h->subject);
	free(h->snippet);
}

void data_decode_fields(const std::string &s, ix_hit_t *h)
{
	if (s.size() < 2 || s[0] != 'V' || s[1] != 1)
		throw IxError{IX_ECORRUPT, "document data: unknown format"};
	Reader r{s, 2};
	h->seq = r.varint();
	h->record_seq = r.varint();
	h->date = unzigzag(r.varint());
	h->received = unzigzag(r.varint());
	h->size = r.varint();
	h->attachment_count = (unsigned)r.varint();
	h->flags = (uint32_t)r.varint();
	h->archive = r.str();
	h->from = r.str();
	h->to = r.str();
	h->subject = r.str();
	h->snippet = r.str();
	h->id = xasprintf("%s-%llu", h->archive, (unsigned long long)h->seq);
}

/* Fills h from document data; on failure h is left empty. */
void data_decode(const std::string &s, ix_hit_t *h)
{
	try {
		data_decode_fields(s, h);
	} catch (...) {
		hit_free(h);
		memset(h, 0, sizeof *h);
		throw;
	}
}

void result_clear(ix_result_t *r)
{
	for (size_t i = 0; i < r->nhits; i++)
		hit_free(&r->hits[i]);
	free(r->hits);
	r->hits = NULL;
	r->nhits = 0;
}

/* ---- indexing ---- */

void index_domains(Xapian::Document &doc, const char *prefix, const std::string &addr)
{
	size_t at = addr.rfind('@');
	if (at == std::string::npos)
		return;
	/* The domain and each parent with a dot in it: from:example.com finds
	 * mail from mx.eu.example.com. */
	std::string dom = addr.substr(at + 1);
	for (size_t pos = 0; dom.find('.', pos) != std::string::npos;) {
		doc.add_boolean_term(bterm(prefix, dom.substr(pos)));
		pos = dom.find('.', pos) + 1;
	}
}

void index_addr(Xapian::TermGenerator &tg, Xapian::Document &doc, int kind, const ix_addr_t *a,
                bool unprefixed)
{
	const AddrPrefix &p = ADDR_PREFIX[kind];
	std::string addr = a->addr ? a->addr : "";
	if (!addr.empty()) {
		doc.add_boolean_term(bterm(p.addr, addr));
		index_domains(doc, p.domain, addr);
	}
	/* Name and address apart, so no phrase runs from one into the other. */
	for (const char *part : {a->name, a->addr}) {
		if (!part || !*part)
			continue;
		tg.index_text(part, 1, p.words);
		tg.increase_termpos();
		if (unprefixed) {
			tg.index_text(part);
			tg.increase_termpos();
		}
	}
}

void doc_build(Xapian::TermGenerator &tg, const ix_doc_t *d, Xapian::Document &doc)
{
	tg.set_document(doc);
	doc.add_boolean_term(doc_key(d->archive, d->seq));
	doc.add_boolean_term(bterm("XA", d->archive));
	if (d->subject) {
		tg.index_text(d->subject, 1, "S");
		tg.increase_termpos();
		tg.index_text(d->subject);
		tg.increase_termpos();
	}
	for (int k = 0; k < IX_ADDR_KINDS; k++)
		for (size_t i = 0; i < d->naddrs[k]; i++)
			index_addr(tg, doc, k, &d->addrs[k][i], k != IX_ADDR_JOURNAL);
	for (size_t i = 0; i < d->nfilenames; i++) {
		tg.index_text(d->filenames[i], 1, "XN");
		tg.increase_termpos();
		tg.index_text(d->filenames[i]);
		tg.increase_termpos();
	}
	if (d->message_id && *d->message_id)
		doc.add_boolean_term(bterm("XM", d->message_id));
	if (d->body && d->body_len)
		tg.index_text(Xapian::Utf8Iterator(d->body, d->body_len));
	if (d->attachment_count)
		doc.add_boolean_term("Kattachment");
	static const struct {
		uint32_t flag;
		const char *term;
	} tags[] = {{IX_F_JOURNAL, "Kjournal"},
	            {IX_F_QUARANTINED, "Kquarantined"},
	            {IX_F_TRUNCATED, "Ktruncated"},
	            {IX_F_NO_DATE, "Knodate"},
	            {IX_F_UNPARSED, "Kunparsed"}};
	for (const auto &t : tags)
		if (d->flags & t.flag)
			doc.add_boolean_term(t.term);
	doc.add_value(SLOT_DATE, Xapian::sortable_serialise((double)d->date));
	doc.add_value(SLOT_RECEIVED, Xapian::sortable_serialise((double)d->received));
	doc.add_value(SLOT_SIZE, Xapian::sortable_serialise((double)d->size));
	doc.set_data(data_encode(d));
}

void termgen_setup(Xapian::TermGenerator &tg)
{
	tg.set_stemmer(Xapian::Stem("english"));
	tg.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
	tg.set_flags(Xapian::TermGenerator::FLAG_CJK_NGRAM);
}

/* ---- query fields ---- */

Xapian::Query or_all(const std::vector<Xapian::Query> &v)
{
	return v.empty() ? Xapian::Query::MatchNothing
	                 : Xapian::Query(Xapian::Query::OP_OR, v.begin(), v.end());
}

/* from: to: cc: bcc: participant: — an address, @domain or domain, a
 * prefix* of either, or words of names and addresses. */
class AddrField : public Xapian::FieldProcessor
{
	std::vector<int> kinds;

      public:
	explicit AddrField(std::vector<int> k) : kinds(std::move(k))
	{
	}
	Xapian::Query operator()(const std::string &raw) override
	{
		std::string v = Xapian::Unicode::tolower(raw);
		std::vector<Xapian::Query> q;
		if (!v.empty() && v.back() == '*') {
			std::string stem = v.substr(0, v.size() - 1);
			for (int k : kinds) {
				q.emplace_back(Xapian::Query::OP_WILDCARD,
				               bterm(ADDR_PREFIX[k].addr, stem));
				if (stem.find_first_of(" @") == std::string::npos)
					q.emplace_back(Xapian::Query::OP_WILDCARD,
					               ADDR_PREFIX[k].words + stem);
			}
			return or_all(q);
		}
		size_t at = v.find('@');
		if (at == 0) {
			for (int k : kinds)
				q.emplace_back(bterm(ADDR_PREFIX[k].domain, v.substr(1)));
			return or_all(q);
		}
		if (at != std::string::npos) {
			for (int k : kinds)
				q.emplace_back(bterm(ADDR_PREFIX[k].addr, v));
			return or_all(q);
		}
		/* Words of names and addresses, as a phrase: from:"alice smith". */
		Xapian::QueryParser sub;
		std::string phrase = "\"" + raw + "\"";
		phrase.erase(std::remove(phrase.begin() + 1, phrase.end() - 1, '"'),
		             phrase.end() - 1);
		for (int k : kinds) {
			q.push_back(sub.parse_query(phrase, Xapian::QueryParser::FLAG_PHRASE,
			                            ADDR_PREFIX[k].words));
			if (v.find('.') != std::string::npos)
				q.emplace_back(bterm(ADDR_PREFIX[k].domain, v));
		}
		return or_all(q);
	}
};

/* archive: message-id: has: is: — one exact term. */
class ExactField : public Xapian::FieldProcessor
{
	const char *prefix;
	bool angle;

      public:
	ExactField(const char *p, bool strip_angle) : prefix(p), angle(strip_angle)
	{
	}
	Xapian::Query operator()(const std::string &raw) override
	{
		std::string v = raw;
		if (angle && v.size() >= 2 && v.front() == '<' && v.back() == '>')
			v = v.substr(1, v.size() - 2);
		return Xapian::Query(bterm(prefix, v));
	}
};

Xapian::Query value_range(Xapian::valueno slot, double lo, double hi, bool open_lo, bool open_hi)
{
	using Q = Xapian::Query;
	if (open_lo && open_hi)
		return Q::MatchAll;
	if (open_lo)
		return Q(Q::OP_VALUE_LE, slot, Xapian::sortable_serialise(hi));
	if (open_hi)
		return Q(Q::OP_VALUE_GE, slot, Xapian::sortable_serialise(lo));
	return Q(Q::OP_VALUE_RANGE, slot, Xapian::sortable_serialise(lo),
	         Xapian::sortable_serialise(hi));
}

/* date: received: after: before: */
class TimeField : public Xapian::FieldProcessor
{
	ixq_field_id_t id;
	int64_t now;

      public:
	TimeField(ixq_field_id_t i, int64_t n) : id(i), now(n)
	{
	}
	Xapian::Query operator()(const std::string &v) override
	{
		int64_t lo, hi;
		char *err = NULL;
		if (!ixq_time_range(id, v.c_str(), now, &lo, &hi, &err)) {
			std::string msg = err;
			free(err);
			throw Xapian::QueryParserError(msg);
		}
		return value_range(id == IXQ_F_RECEIVED ? SLOT_RECEIVED : SLOT_DATE, (double)lo,
		                   (double)hi, lo == INT64_MIN, hi == INT64_MAX);
	}
};

class SizeField : public Xapian::FieldProcessor
{
      public:
	Xapian::Query operator()(const std::string &v) override
	{
		uint64_t lo, hi;
		char *err = NULL;
		if (!ixq_size_range(v.c_str(), &lo, &hi, &err)) {
			std::string msg = err;
			free(err);
			throw Xapian::QueryParserError(msg);
		}
		return value_range(SLOT_SIZE, (double)lo, (double)hi, lo == 0, hi == UINT64_MAX);
	}
};

std::vector<int> addr_kinds(ixq_field_id_t id)
{
	/* to:, cc: and bcc: also find journal/envelope recipients: the journal
	 * often knows recipients the headers hide (issue 5). */
	switch (id) {
	case IXQ_F_FROM: return {IX_ADDR_FROM};
	case IXQ_F_TO: return {IX_ADDR_TO, IX_ADDR_JOURNAL};
	case IXQ_F_CC: return {IX_ADDR_CC, IX_ADDR_JOURNAL};
	case IXQ_F_BCC: return {IX_ADDR_BCC, IX_ADDR_JOURNAL};
	default: return {IX_ADDR_FROM, IX_ADDR_TO, IX_ADDR_CC, IX_ADDR_BCC, IX_ADDR_JOURNAL};
	}
}

void parser_setup(Xapian::QueryParser &qp, const Xapian::Database &db, int64_t now)
{
	qp.set_database(db);
	qp.set_stemmer(Xapian::Stem("english"));
	qp.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
	qp.set_default_op(Xapian::Query::OP_AND);
	/* Each filter its own group, so from:a from:b means both (as in the
	 * mail clients auditors know), not either. */
	std::string own_group;
	for (const ixq_field_t *f = ixq_fields; f->name; f++) {
		Xapian::FieldProcessor *proc = NULL;
		switch (f->kind) {
		case IXQ_TEXT:
			qp.add_prefix(f->qp_name, f->id == IXQ_F_SUBJECT ? "S"
			                          : f->id == IXQ_F_BODY  ? ""
			                                                 : "XN");
			continue;
		case IXQ_ADDR: proc = new AddrField(addr_kinds(f->id)); break;
		case IXQ_EXACT:
			proc = new ExactField(f->id == IXQ_F_ARCHIVE      ? "XA"
			                      : f->id == IXQ_F_MESSAGE_ID ? "XM"
			                                                  : "K",
			                      f->id == IXQ_F_MESSAGE_ID);
			break;
		case IXQ_TIME: proc = new TimeField(f->id, now); break;
		case IXQ_SIZE: proc = new SizeField(); break;
		}
		qp.add_boolean_prefix(f->qp_name, proc->release(), &own_group);
	}
}

const unsigned PARSE_FLAGS =
    Xapian::QueryParser::FLAG_BOOLEAN | Xapian::QueryParser::FLAG_PHRASE |
    Xapian::QueryParser::FLAG_LOVEHATE | Xapian::QueryParser::FLAG_WILDCARD |
    Xapian::QueryParser::FLAG_PURE_NOT | Xapian::QueryParser::FLAG_CJK_NGRAM;

} // namespace

/* ---- writer ---- */

struct Shard {
	Xapian::WritableDatabase db;
	std::string archive;
	bool dirty = false;
	uint64_t used = 0;
};

struct ix_writer {
	std::string dir;
	std::map<std::string, std::unique_ptr<Shard>> shards; /* "archive/YYYY-MM" */
	uint64_t clock = 0;
	Xapian::TermGenerator tg;
};

namespace
{

void shard_evict(ix_writer_t *w)
{
	auto victim = w->shards.end();
	for (auto it = w->shards.begin(); it != w->shards.end(); ++it)
		if (!it->second->dirty &&
		    (victim == w->shards.end() || it->second->used < victim->second->used))
			victim = it;
	if (victim == w->shards.end())
		return; /* all dirty: they close after the next commit */
	victim->second->db.cancel_transaction();
	victim->second->db.close();
	w->shards.erase(victim);
}

/* The open shard of archive/month; NULL when !create and it does not exist. */
Shard *shard_get(ix_writer_t *w, const char *archive, const std::string &month, bool create)
{
	std::string key = std::string(archive) + "/" + month;
	auto it = w->shards.find(key);
	if (it != w->shards.end()) {
		it->second->used = ++w->clock;
		return it->second.get();
	}
	std::string adir = w->dir + "/" + archive, path = adir + "/" + month;
	struct stat st;
	if (!create && stat(path.c_str(), &st) != 0)
		return NULL;
	if (w->shards.size() >= WRITER_SHARDS_OPEN_MAX)
		shard_evict(w);
	if (util_mkdir_p(adir.c_str(), 0700) != UTIL_OK)
		throw IxError{IX_EIO, "cannot create " + adir + ": " + strerror(errno)};
	auto sh = std::make_unique<Shard>();
	sh->db = Xapian::WritableDatabase(path, Xapian::DB_CREATE_OR_OPEN);
	sh->archive = archive;
	sh->used = ++w->clock;
	sh->db.begin_transaction(true);
	Shard *p = sh.get();
	w->shards.emplace(key, std::move(sh));
	return p;
}

uint64_t meta_u64(const Xapian::Database &db, const char *key)
{
	std::string v = db.get_metadata(key);
	return v.empty() ? 0 : strtoull(v.c_str(), NULL, 10);
}

} // namespace

extern "C" {

const char *ix_strerror(ix_status_t st)
{
	switch (st) {
	case IX_OK: return "ok";
	case IX_EQUERY: return "query does not parse";
	case IX_EINVAL: return "invalid argument";
	case IX_ENOTFOUND: return "not found";
	case IX_EIO: return "index input/output error";
	case IX_ECORRUPT: return "index corrupt";
	case IX_ELOCKED: return "index locked by another writer";
	case IX_EMODIFIED: return "index changed during the read";
	case IX_EINTERNAL: return "internal index error";
	}
	return "unknown index status";
}

ix_status_t ix_writer_open(const char *index_dir, ix_writer_t **out, char **err)
{
	try {
		*out = NULL;
		if (util_mkdir_p(index_dir, 0700) != UTIL_OK)
			throw IxError{IX_EIO, std::string("cannot create ") + index_dir + ": " +
			                          strerror(errno)};
		auto w = std::make_unique<ix_writer>();
		w->dir = index_dir;
		termgen_setup(w->tg);
		*out = w.release();
		return IX_OK;
	}
	IX_CATCH(err)
}

ix_status_t ix_writer_put(ix_writer_t *w, const ix_doc_t *d, char **err)
{
	try {
		need_archive(d->archive);
		Shard *sh = shard_get(w, d->archive, month_of(d->received), true);
		Xapian::Document doc;
		doc_build(w->tg, d, doc);
		sh->db.replace_document(doc_key(d->archive, d->seq), doc);
		sh->dirty = true;
		return IX_OK;
	}
	IX_CATCH(err)
}

ix_status_t ix_writer_add_arrival(ix_writer_t *w, const char *archive, uint64_t seq,
                                  int64_t first_received, const char *const *rcpt, size_t nrcpt,
                                  char **err)
{
	try {
		need_archive(archive);
		std::string key = doc_key(archive, seq);
		Shard *sh = shard_get(w, archive, month_of(first_received), false);
		Xapian::PostingIterator pi =
		    sh ? sh->db.postlist_begin(key) : Xapian::PostingIterator();
		if (!sh || pi == sh->db.postlist_end(key))
			throw IxError{IX_ENOTFOUND, "no document " + key.substr(1)};
		Xapian::docid did = *pi;
		Xapian::Document doc = sh->db.get_document(did);
		w->tg.set_document(doc);
		w->tg.set_termpos(ARRIVAL_TERMPOS);
		for (size_t i = 0; i < nrcpt; i++) {
			ix_addr_t a = {NULL, rcpt[i]};
			index_addr(w->tg, doc, IX_ADDR_JOURNAL, &a, false);
		}
		sh->db.replace_document(did, doc);
		sh->dirty = true;
		return IX_OK;
	}
	IX_CATCH(err)
}

ix_status_t ix_writer_commit(ix_writer_t *w, const char *archive, uint64_t from, uint64_t done,
                             char **err)
{
	try {
		need_archive(archive);
		for (auto &kv : w->shards) {
			Shard &sh = *kv.second;
			if (!sh.dirty || sh.archive != archive)
				continue;
			sh.db.set_metadata(META_FORMAT, INDEX_FORMAT);
			sh.db.set_metadata(META_DONE, std::to_string(done));
			sh.db.set_metadata(META_FROM, std::to_string(from));
			sh.db.commit_transaction();
			sh.dirty = false;
			sh.db.begin_transaction(true);
		}
		while (w->shards.size() > WRITER_SHARDS_OPEN_MAX) {
			size_t before = w->shards.size();
			shard_evict(w);
			if (w->shards.size() == before)
				break;
		}
		return IX_OK;
	}
	IX_CATCH(err)
}

ix_status_t ix_writer_resume_point(ix_writer_t *w, const char *archive, uint64_t *after, char **err)
{
	try {
		*after = 0;
		need_archive(archive);
		uint64_t best_done = 0, best_from = 0;
		for (const std::string &m : shard_months(w->dir, archive)) {
			auto it = w->shards.find(std::string(archive) + "/" + m);
			Xapian::Database db =
			    it != w->shards.end()
			        ? Xapian::Database(it->second->db)
			        : Xapian::Database(w->dir + "/" + archive + "/" + m);
			uint64_t done = meta_u64(db, META_DONE);
			if (done > best_done) {
				best_done = done;
				best_from = meta_u64(db, META_FROM);
			}
		}
		*after = best_from;
		return IX_OK;
	}
	IX_CATCH(err)
}

void ix_writer_close(ix_writer_t *w)
{
	if (!w)
		return;
	try {
		for (auto &kv : w->shards) {
			kv.second->db.cancel_transaction();
			kv.second->db.close();
		}
	} catch (const Xapian::Error &e) {
		log_warn("ix.close", "err=%s", e.get_description().c_str());
	} catch (...) {
		log_warn("ix.close", "err=unknown");
	}
	delete w;
}

} // extern "C"

/* ---- reader ---- */

struct ix {
	std::string dir;
};

namespace
{

bool archive_dir_ok(const char *name)
{
	return archive_name_ok(name);
}

/* The shards of the archives opts allows, newest month first. */
std::vector<std::string> search_shards(const ix_t *ix, const ix_search_opts_t *o)
{
	std::vector<std::string> archives;
	if (o->all_archives) {
		archives = list_dir(ix->dir, archive_dir_ok);
	} else {
		for (size_t i = 0; i < o->narchives; i++) {
			need_archive(o->archives[i]);
			archives.push_back(o->archives[i]);
		}
		/* An archive named twice must not count its mail twice. */
		std::sort(archives.begin(), archives.end());
		archives.erase(std::unique(archives.begin(), archives.end()), archives.end());
	}
	std::vector<std::pair<std::string, std::string>> shards; /* month, path */
	for (const std::string &a : archives)
		for (const std::string &m : shard_months(ix->dir, a.c_str()))
			shards.emplace_back(m, ix->dir + "/" + a + "/" + m);
	std::sort(shards.begin(), shards.end(),
	          [](const auto &x, const auto &y) { return x.first > y.first; });
	std::vector<std::string> paths;
	for (auto &s : shards)
		paths.push_back(s.second);
	return paths;
}

/* Opens each shard; a directory the writer is still creating (no database
 * files yet) is skipped, anything else that fails to open fails the search
 * rather than silently dropping a month of mail. */
Xapian::Database open_shards(const std::vector<std::string> &paths)
{
	Xapian::Database db;
	for (const std::string &p : paths) {
		try {
			db.add_database(Xapian::Database(p));
		} catch (const Xapian::DatabaseNotFoundError &) {
			continue;
		}
	}
	return db;
}

void enquire_sort(Xapian::Enquire &enq, ix_sort_t sort)
{
	switch (sort) {
	case IX_SORT_DATE_ASC: enq.set_sort_by_value_then_relevance(SLOT_DATE, false); break;
	case IX_SORT_RECEIVED_DESC:
		enq.set_sort_by_value_then_relevance(SLOT_RECEIVED, true);
		break;
	case IX_SORT_RECEIVED_ASC:
		enq.set_sort_by_value_then_relevance(SLOT_RECEIVED, false);
		break;
	case IX_SORT_RELEVANCE: enq.set_sort_by_relevance_then_value(SLOT_DATE, true); break;
	case IX_SORT_DATE_DESC:
	default: enq.set_sort_by_value_then_relevance(SLOT_DATE, true); break;
	}
}

void run_search(const Xapian::Database &db, const Xapian::Query &query, const ix_search_opts_t *o,
                ix_result_t *r)
{
	size_t limit = o->limit ? std::min<size_t>(o->limit, IX_LIMIT_MAX) : IX_LIMIT_DEFAULT;
	r->offset = o->offset;
	if (o->offset >= db.get_doccount()) {
		/* Past the end (or an empty index): still report the total. */
		Xapian::Enquire enq(db);
		enq.set_query(query);
		Xapian::MSet ms = enq.get_mset(0, 0, db.get_doccount());
		r->total = ms.get_matches_estimated();
		r->total_exact = ms.get_matches_lower_bound() == ms.get_matches_upper_bound();
		return;
	}
	Xapian::Enquire enq(db);
	enq.set_query(query);
	enquire_sort(enq, o->sort);
	Xapian::doccount first = (Xapian::doccount)o->offset;
	uint64_t want = (uint64_t)first + limit + COUNT_EXACT_EXTRA;
	Xapian::doccount check = (Xapian::doccount)std::min<uint64_t>(want, db.get_doccount());
	Xapian::MSet ms = enq.get_mset(first, (Xapian::doccount)limit, check);
	r->total = ms.get_matches_estimated();
	r->total_exact = ms.get_matches_lower_bound() == ms.get_matches_upper_bound();
	r->hits = (ix_hit_t *)xcalloc(ms.size() ? ms.size() : 1, sizeof *r->hits);
	for (Xapian::MSetIterator it = ms.begin(); it != ms.end(); ++it) {
		ix_hit_t *h = &r->hits[r->nhits];
		data_decode(it.get_document().get_data(), h);
		h->percent = it.get_percent();
		r->nhits++;
	}
}

} // namespace

extern "C" {

bool ix_sort_parse(const char *s, ix_sort_t *out)
{
	static const struct {
		const char *name;
		ix_sort_t sort;
	} sorts[] = {{"-date", IX_SORT_DATE_DESC},
	             {"date", IX_SORT_DATE_ASC},
	             {"-received", IX_SORT_RECEIVED_DESC},
	             {"received", IX_SORT_RECEIVED_ASC},
	             {"relevance", IX_SORT_RELEVANCE}};
	if (!s || !*s) {
		*out = IX_SORT_DATE_DESC;
		return true;
	}
	for (const auto &x : sorts)
		if (!strcmp(s, x.name)) {
			*out = x.sort;
			return true;
		}
	return false;
}

ix_status_t ix_open_dir(const char *index_dir, ix_t **out, char **err)
{
	try {
		*out = NULL;
		auto ix = std::make_unique<struct ix>();
		ix->dir = index_dir;
		*out = ix.release();
		return IX_OK;
	}
	IX_CATCH(err)
}

ix_status_t ix_open(const config_t *cfg, ix_t **out, char **err)
{
	char *dir = config_data_path(cfg, "index");
	ix_status_t st = ix_open_dir(dir, out, err);
	free(dir);
	return st;
}

void ix_close(ix_t *ix)
{
	delete ix;
}

void ix_result_free(ix_result_t *r)
{
	if (!r)
		return;
	result_clear(r);
	free(r);
}

ix_status_t ix_search(ix_t *ix, const char *query, const ix_search_opts_t *opts, ix_result_t **out,
                      char **err)
{
	try {
		static const ix_search_opts_t defaults = {};
		const ix_search_opts_t *o = opts ? opts : &defaults;
		*out = NULL;
		int64_t now = util_now();
		bool all = false;
		char *perr = NULL;
		char *prepared = ixq_prepare(query, now, &all, &perr);
		if (!prepared) {
			std::string msg = perr;
			free(perr);
			throw IxError{IX_EQUERY, msg};
		}
		std::string qs = prepared;
		free(prepared);
		std::unique_ptr<ix_result_t, void (*)(ix_result_t *)> r(
		    (ix_result_t *)xcalloc(1, sizeof(ix_result_t)), ix_result_free);
		r->total_exact = true;
		r->offset = o->offset;
		Xapian::Database db = open_shards(search_shards(ix, o));
		/* A writer committing twice during a long read invalidates it:
		 * reopen and run again. */
		for (int attempt = 0;; attempt++) {
			try {
				Xapian::QueryParser qp;
				parser_setup(qp, db, now);
				Xapian::Query q =
				    all ? Xapian::Query::MatchAll : qp.parse_query(qs, PARSE_FLAGS);
				if (db.get_doccount() > 0)
					run_search(db, q, o, r.get());
				break;
			} catch (const Xapian::DatabaseModifiedError &) {
				if (attempt == 2)
					throw;
				result_clear(r.get());
				db.reopen();
			}
		}
		*out = r.release();
		return IX_OK;
	}
	IX_CATCH(err)
}

ix_status_t ix_archive_done(ix_t *ix, const char *archive, uint64_t *done, char **err)
{
	try {
		*done = 0;
		need_archive(archive);
		for (const std::string &m : shard_months(ix->dir, archive)) {
			try {
				Xapian::Database db(ix->dir + "/" + archive + "/" + m);
				*done = std::max(*done, meta_u64(db, META_DONE));
			} catch (const Xapian::DatabaseNotFoundError &) {
				continue;
			}
		}
		return IX_OK;
	}
	IX_CATCH(err)
}

} // extern "C"
