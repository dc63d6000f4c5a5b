/* indexer.c — the indexer process: `vellum [-c FILE] indexer`, started and
 * restarted by `vellum serve` (DESIGN.md §1, §8).
 *
 * Does: open the store read-only (loading the master key itself) and the
 * index for writing; for each mail archive, resume from the index's own
 * checkpoint (ix_writer_resume_point), tail the archive's chain with a store
 * scan, parse each new message (mime.c), index it (xapian.cc), fold later
 * arrivals of the same message into its document, and commit in batches —
 * each shard's checkpoint in the same commit as its documents.  Polls for
 * new records a few times a second; exits cleanly on SIGTERM/SIGINT and when
 * serve dies (PR_SET_PDEATHSIG).
 *
 * Does not (yet, issue 5 stage 2): run parses under a time and memory budget
 * in a child, quarantine messages that crash or hang it, unwrap journal
 * reports, extract attachment text, apply retention deletions.  Each has its
 * place marked below (indexer_parse, indexer_item).
 *
 * Failure policy: a message that cannot be read or parsed is still indexed
 * by its envelope (invariant 1).  An index write failure (disk, lock) ends
 * the process with status 1; serve restarts it and it resumes from the last
 * commit, so nothing is lost or doubled.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "indexer_private.h"
#include "vellum/cli.h"
#include "vellum/config.h"
#include "vellum/log.h"
#include "vellum/store.h"

/* How often an idle indexer looks for new records: a message is searchable
 * within about this long after its 250 (plus parse and commit time). */
#define INDEXER_POLL_MS 200
/* Messages per commit at most: Xapian holds a batch in memory, and a crash
 * re-indexes at most one batch per archive. */
#define INDEXER_BATCH_MAX 2000
/* A batch still filling is committed after this long, so a steady trickle
 * of mail becomes searchable without waiting for a full batch. */
#define INDEXER_BATCH_US (2 * UTIL_US_PER_SEC)
/* Once caught up, commit at once — unless the last commit was less than
 * this long ago: a steady stream then costs one commit per second, not one
 * per message, and a lone message is searchable at once. */
#define INDEXER_COMMIT_GAP_US (UTIL_US_PER_SEC)
/* How often the list of archives is re-read (new archives get indexed). */
#define INDEXER_ARCHIVES_US (2 * UTIL_US_PER_SEC)
/* After a store error on an archive, wait this long before trying it again. */
#define INDEXER_RETRY_US (5 * UTIL_US_PER_SEC)
/* Read size when streaming a message out of the store. */
#define INDEXER_READ_CHUNK (256u << 10)

typedef struct arch {
	char *name;
	store_scan_t *scan;    /* open while tailing; NULL before resume or after an error */
	uint64_t pos;          /* last record handled */
	uint64_t batch_from;   /* pos when the uncommitted batch began */
	size_t pending;        /* records handled since the last commit */
	int64_t batch_started; /* monotonic us of the first of them */
	int64_t committed;     /* monotonic us of the last commit */
	int64_t retry_at;      /* monotonic us; 0 = now */
	bool seen;             /* still listed by the store (refresh) */
} arch_t;

typedef struct indexer {
	config_t *cfg;
	store_t *store;
	ix_writer_t *ix;
	int sigfd;
	pid_t parent;
	arch_t *arch;
	size_t narch;
	int64_t archives_at; /* monotonic us of the last archive list refresh */
	bool stop;
	bool failed; /* an index write failed: exit 1 */
} indexer_t;

/* ---- signals ---- */

static int signals_setup(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
		return -1;
	return signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

/* Waits up to ms for a signal (0: just looks); sets stop on one. */
static void signals_wait(indexer_t *ix, int ms)
{
	struct pollfd p = {.fd = ix->sigfd, .events = POLLIN};
	if (poll(&p, 1, ms) > 0) {
		struct signalfd_siginfo si;
		if (read(ix->sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
			log_info("indexer.signal", "signal=%u", si.ssi_signo);
			ix->stop = true;
		}
	}
	/* PR_SET_PDEATHSIG covers serve dying; this covers it dying before
	 * the prctl took effect. */
	if (getppid() != ix->parent) {
		log_info("indexer.orphaned", "parent=%d", (int)ix->parent);
		ix->stop = true;
	}
}

/* ---- archives ---- */

static arch_t *arch_find(indexer_t *ix, const char *name)
{
	for (size_t i = 0; i < ix->narch; i++)
		if (!strcmp(ix->arch[i].name, name))
			return &ix->arch[i];
	return NULL;
}

static void arch_drop(arch_t *a)
{
	store_scan_close(a->scan);
	free(a->name);
}

/* Adds archives the store lists now; forgets ones it no longer lists. */
static void archives_refresh(indexer_t *ix)
{
	char **names = store_archive_list(ix->store);
	for (size_t i = 0; i < ix->narch; i++)
		ix->arch[i].seen = false;
	for (size_t i = 0; names && names[i]; i++) {
		arch_t *a = arch_find(ix, names[i]);
		if (!a) {
			ix->arch = xrealloc(ix->arch, (ix->narch + 1) * sizeof *ix->arch);
			a = &ix->arch[ix->narch++];
			memset(a, 0, sizeof *a);
			a->name = xstrdup(names[i]);
		}
		a->seen = true;
	}
	size_t keep = 0;
	for (size_t i = 0; i < ix->narch; i++) {
		if (ix->arch[i].seen || ix->arch[i].pending)
			ix->arch[keep++] = ix->arch[i];
		else
			arch_drop(&ix->arch[i]);
	}
	ix->narch = keep;
	util_strv_free(names);
	ix->archives_at = util_monotonic_us();
}

/* ---- one message ---- */

/* Reads the current message's bytes, at most MIME_INPUT_MAX; *cut is set
 * when there were more.  Returns the store status. */
static store_status_t message_read(arch_t *a, buf_t *raw, bool *cut)
{
	store_reader_t *r = NULL;
	store_status_t st = store_scan_open_message(a->scan, &r);
	*cut = false;
	while (st == STORE_OK) {
		size_t got = 0;
		if (raw->len == MIME_INPUT_MAX) {
			uint8_t probe;
			st = store_reader_read(r, &probe, 1, &got);
			*cut = got > 0;
			break;
		}
		size_t want = MIME_INPUT_MAX - raw->len;
		if (want > INDEXER_READ_CHUNK)
			want = INDEXER_READ_CHUNK;
		buf_reserve(raw, want);
		st = store_reader_read(r, raw->data + raw->len, want, &got);
		if (st != STORE_OK || got == 0)
			break;
		raw->len += got;
	}
	store_reader_close(r);
	return st;
}

/* The parse.  Stage 2 (issue 5) runs this in a child under a time and
 * memory budget and quarantines what crashes or hangs it twice; the caller
 * already copes with "no summary" (envelope-only indexing). */
static mime_msg_t *indexer_parse(const buf_t *raw)
{
	mime_msg_t *m = NULL;
	if (mime_parse(raw->data, raw->len, NULL, &m) != MIME_OK)
		return NULL;
	return m;
}

static void index_failed(indexer_t *ix, const char *what, const char *archive, uint64_t seq,
                         ix_status_t st, char *err)
{
	char q[LOG_Q_MAX];
	log_error("indexer.write", "op=%s archive=%s seq=%llu status=%s err=%s", what, archive,
	          (unsigned long long)seq, ix_strerror(st), log_q(q, sizeof q, err ? err : ""));
	free(err);
	if (st != IX_EINVAL && st != IX_ENOTFOUND) {
		ix->failed = true;
		ix->stop = true;
	}
}

static void index_message(indexer_t *ix, arch_t *a, const store_scan_item_t *it)
{
	const store_arrival_t *arr = it->arrival;
	buf_t raw = {0};
	bool cut = false;
	store_status_t st = message_read(a, &raw, &cut);
	mime_msg_t *m = NULL;
	if (st != STORE_OK)
		log_error("indexer.read", "archive=%s seq=%llu status=%s", a->name,
		          (unsigned long long)it->msg_seq, store_strerror(st));
	else
		m = indexer_parse(&raw);
	indexer_env_t env = {
	    .archive = a->name,
	    .seq = it->msg_seq,
	    .record_seq = it->record_seq,
	    .received = arr ? arr->received : 0,
	    .size = it->size,
	    .mail_from = arr ? arr->mail_from : NULL,
	    .rcpt = arr ? (const char *const *)arr->rcpt : NULL,
	    .nrcpt = arr ? arr->nrcpt : 0,
	};
	indexer_doc_t d;
	indexer_doc_build(&d, &env, m ? mime_msg_info(m) : NULL,
	                  cut || st != STORE_OK ? IX_F_TRUNCATED : 0);
	char *err = NULL;
	ix_status_t xs = ix_writer_put(ix->ix, &d.doc, &err);
	if (xs != IX_OK)
		index_failed(ix, "put", a->name, it->msg_seq, xs, err);
	indexer_doc_free(&d);
	mime_msg_free(m);
	buf_free(&raw);
}

/* A later arrival of a message already indexed: its envelope recipients
 * join the document (found in the shard of the first arrival's month). */
static void index_arrival(indexer_t *ix, arch_t *a, const store_scan_item_t *it)
{
	store_msg_t *m = NULL;
	store_status_t st = store_msg_get(ix->store, a->name, it->msg_seq, &m);
	if (st != STORE_OK) {
		log_warn("indexer.arrival", "archive=%s seq=%llu status=%s", a->name,
		         (unsigned long long)it->msg_seq, store_strerror(st));
		return;
	}
	const store_arrival_t *arr = it->arrival;
	char *err = NULL;
	ix_status_t xs = ix_writer_add_arrival(ix->ix, a->name, it->msg_seq, m->received,
	                                       arr ? (const char *const *)arr->rcpt : NULL,
	                                       arr ? arr->nrcpt : 0, &err);
	if (xs != IX_OK)
		index_failed(ix, "arrival", a->name, it->msg_seq, xs, err);
	store_msg_free(m);
}

static void indexer_item(indexer_t *ix, arch_t *a, const store_scan_item_t *it)
{
	switch (it->type) {
	case STORE_ITEM_MESSAGE: index_message(ix, a, it); break;
	case STORE_ITEM_ARRIVAL: index_arrival(ix, a, it); break;
	case STORE_ITEM_DELETION:
		/* Retention and purges remove documents (the retention issue). */
		log_debug("indexer.deletion", "archive=%s ids=%zu", a->name, it->ndeleted);
		break;
	case STORE_ITEM_LOG: break;
	}
}

/* ---- batches ---- */

static void batch_commit(indexer_t *ix, arch_t *a)
{
	if (!a->pending)
		return;
	char *err = NULL;
	ix_status_t st = ix_writer_commit(ix->ix, a->name, a->batch_from, a->pos, &err);
	if (st != IX_OK) {
		index_failed(ix, "commit", a->name, a->pos, st, err);
		return;
	}
	log_debug("indexer.commit", "archive=%s from=%llu done=%llu records=%zu", a->name,
	          (unsigned long long)a->batch_from, (unsigned long long)a->pos, a->pending);
	a->batch_from = a->pos;
	a->pending = 0;
	a->committed = util_monotonic_us();
}

static bool arch_resume(indexer_t *ix, arch_t *a)
{
	uint64_t after = 0;
	char *err = NULL;
	ix_status_t xs = ix_writer_resume_point(ix->ix, a->name, &after, &err);
	if (xs != IX_OK) {
		index_failed(ix, "resume", a->name, 0, xs, err);
		return false;
	}
	store_status_t st = store_scan_open(ix->store, a->name, after, &a->scan);
	if (st != STORE_OK) {
		log_error("indexer.scan_open", "archive=%s status=%s", a->name, store_strerror(st));
		a->retry_at = util_monotonic_us() + INDEXER_RETRY_US;
		return false;
	}
	a->pos = a->batch_from = after;
	log_info("indexer.resume", "archive=%s after=%llu", a->name, (unsigned long long)after);
	return true;
}

/* Handles up to a batch of new records of one archive.  Returns how many. */
static size_t arch_step(indexer_t *ix, arch_t *a)
{
	int64_t now = util_monotonic_us();
	if (a->retry_at && now < a->retry_at)
		return 0;
	a->retry_at = 0;
	if (!a->scan && !arch_resume(ix, a))
		return 0;
	uint64_t head = 0;
	if (!a->pending && store_head(ix->store, a->name, &head) == STORE_OK && head <= a->pos)
		return 0;
	size_t n = 0;
	bool caught_up = false;
	while (n < INDEXER_BATCH_MAX && !ix->stop) {
		const store_scan_item_t *it = NULL;
		store_status_t st = store_scan_next(a->scan, &it);
		if (st != STORE_OK) {
			log_error("indexer.scan", "archive=%s after=%llu status=%s", a->name,
			          (unsigned long long)a->pos, store_strerror(st));
			batch_commit(ix, a);
			store_scan_close(a->scan);
			a->scan = NULL;
			a->retry_at = util_monotonic_us() + INDEXER_RETRY_US;
			return n;
		}
		if (!it) {
			caught_up = true;
			break;
		}
		if (!a->pending)
			a->batch_started = util_monotonic_us();
		indexer_item(ix, a, it);
		if (ix->failed)
			return n;
		a->pos = it->record_seq;
		a->pending++;
		n++;
		if ((n & 63) == 0)
			signals_wait(ix, 0);
	}
	int64_t t = util_monotonic_us();
	if (a->pending && ((caught_up && t - a->committed >= INDEXER_COMMIT_GAP_US) ||
	                   a->pending >= INDEXER_BATCH_MAX || ix->stop ||
	                   t - a->batch_started >= INDEXER_BATCH_US))
		batch_commit(ix, a);
	return n;
}

/* ---- the process ---- */

static int indexer_open(indexer_t *ix, const char *config_path)
{
	char *err = NULL;
	if (config_load(config_path, &ix->cfg, &err) != CONFIG_OK) {
		cli_error("indexer: %s", err);
		free(err);
		return -1;
	}
	store_opts_t so = {.mode = STORE_OPEN_READONLY};
	store_status_t st = store_open(ix->cfg, &so, &ix->store);
	if (st != STORE_OK) {
		cli_error("indexer: cannot open the store: %s", store_strerror(st));
		return -1;
	}
	char *dir = config_data_path(ix->cfg, "index");
	ix_status_t xs = ix_writer_open(dir, &ix->ix, &err);
	free(dir);
	if (xs != IX_OK) {
		cli_error("indexer: cannot open the index: %s", err ? err : ix_strerror(xs));
		free(err);
		return -1;
	}
	return 0;
}

static void indexer_close(indexer_t *ix)
{
	for (size_t i = 0; i < ix->narch; i++)
		arch_drop(&ix->arch[i]);
	free(ix->arch);
	ix_writer_close(ix->ix);
	store_close(ix->store);
	config_free(ix->cfg);
	if (ix->sigfd >= 0)
		close(ix->sigfd);
}

int indexer_main(const char *config_path, int argc, char **argv)
{
	(void)argv;
	if (argc > 1) {
		cli_error("indexer: takes no arguments (it is started by `vellum serve`)");
		return 2;
	}
	log_set_proc("indexer");
	indexer_t ix = {.sigfd = -1, .parent = getppid()};
	/* Die with serve: an orphaned indexer would hold the index's write
	 * locks against the next one. */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
		log_warn("indexer.pdeathsig", "err=%s", strerror(errno));
	ix.sigfd = signals_setup();
	if (ix.sigfd < 0) {
		cli_error("indexer: signals: %s", strerror(errno));
		return 1;
	}
	mime_init();
	if (indexer_open(&ix, config_path) != 0) {
		indexer_close(&ix);
		return 1;
	}
	log_info("indexer.start", "pid=%d", (int)getpid());
	while (!ix.stop) {
		if (util_monotonic_us() - ix.archives_at >= INDEXER_ARCHIVES_US)
			archives_refresh(&ix);
		size_t did = 0;
		for (size_t i = 0; i < ix.narch && !ix.stop; i++)
			did += arch_step(&ix, &ix.arch[i]);
		if (!ix.stop)
			signals_wait(&ix, did ? 0 : INDEXER_POLL_MS);
	}
	/* Commit what is done (not after a write failure: the index refused
	 * it, and the next run redoes the batch). */
	for (size_t i = 0; i < ix.narch && !ix.failed; i++)
		batch_commit(&ix, &ix.arch[i]);
	int rc = ix.failed ? 1 : 0;
	log_info("indexer.stop", "status=%d", rc);
	indexer_close(&ix);
	return rc;
}
