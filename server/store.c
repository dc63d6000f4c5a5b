/* store.c — opening and closing the store, the archive table, status text.
 *
 * Does: load the master and signing keys, open every archive (recovering
 * them in read-write mode), start and stop the writer and the packer,
 * create/list/find archives, report their segments and statistics, register
 * the store's metrics, create the key files for `vellum init`.  Does not:
 * take the data-dir lock (the app does, app_lock) or know any archive's
 * policy (db module, retention).
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_private.h"
#include "vellum/log.h"

const char *store_strerror(store_status_t st)
{
	switch (st) {
	case STORE_OK: return "ok";
	case STORE_EIO: return "storage write failed; the store is now read-only";
	case STORE_EFAILED: return "store failed closed after a write error; restart to recover";
	case STORE_ENOSPC: return "free space below min_free";
	case STORE_EBUSY: return "too many bytes in flight";
	case STORE_ETOOBIG: return "too large";
	case STORE_ENOTFOUND: return "not found";
	case STORE_EEXIST: return "archive already exists";
	case STORE_ECORRUPT: return "stored data failed authentication or framing";
	case STORE_EKEY: return "master key missing, unreadable or wrong";
	case STORE_ELOCKED: return "data directory locked by another process";
	case STORE_EINVAL: return "invalid argument";
	case STORE_EREADONLY: return "store opened read-only";
	case STORE_ESHUTDOWN: return "store is shutting down";
	}
	return "unknown store status";
}

store_status_t store_init_keys(const config_t *cfg)
{
	char q[LOG_Q_MAX];
	const char *dd = cfg->storage.data_dir;
	if (util_mkdir_p(dd, 0700) != UTIL_OK) {
		log_error("store.mkdir", "path=%s err=%s", log_q(q, sizeof q, dd), strerror(errno));
		return STORE_EIO;
	}
	const char *cmd = cfg->storage.master_key_command;
	if (!(cmd && *cmd)) {
		keys_status_t ks = keys_master_create(cfg->storage.master_key_file);
		if (ks != KEYS_OK && ks != KEYS_EEXIST)
			return STORE_EKEY;
	}
	uint8_t *mk = NULL;
	keys_status_t ks = keys_master_load(cfg->storage.master_key_file, cmd, &mk);
	keys_secure_free(mk);
	if (ks != KEYS_OK)
		return STORE_EKEY;
	char *kd = config_data_path(cfg, "keys");
	store_status_t st = STORE_OK;
	if (util_mkdir_p(kd, 0700) != UTIL_OK) {
		log_error("store.mkdir", "path=%s err=%s", log_q(q, sizeof q, kd), strerror(errno));
		st = STORE_EIO;
	} else {
		ks = keys_signing_create(kd);
		if (ks == KEYS_EEXIST) {
			uint8_t *sk = NULL, pk[KEYS_SIGN_PUBLIC_BYTES];
			ks = keys_signing_load(kd, &sk, pk);
			keys_secure_free(sk);
		}
		if (ks != KEYS_OK)
			st = ks == KEYS_EIO ? STORE_EIO : STORE_EKEY;
	}
	free(kd);
	return st;
}

static void store_free(store_t *s)
{
	for (size_t i = 0; i < s->narchives; i++)
		store_archive_free(s->archives[i]);
	free(s->archives);
	store_cctx_free_all(s);
	store_bufs_free_all(s);
	keys_secure_free(s->mkey);
	keys_secure_free(s->sign_sk);
	free(s->master_key_file);
	free(s->master_key_command);
	buf_free(&s->wbuf);
	if (s->wbuf2.data)
		sodium_memzero(s->wbuf2.data, s->wbuf2.cap);
	buf_free(&s->wbuf2);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->wlock);
	pthread_cond_destroy(&s->wcond);
	pthread_mutex_destroy(&s->cctx_lock);
	pthread_mutex_destroy(&s->plock);
	pthread_cond_destroy(&s->pcond);
	pthread_cond_destroy(&s->pidle);
	pthread_mutex_destroy(&s->hlock);
	pthread_cond_destroy(&s->hcond);
	pthread_cond_destroy(&s->hidle);
	free(s->data_dir);
	free(s->archives_dir);
	free(s);
}

static void metrics_init(store_t *s)
{
	if (!s->metrics)
		return;
	s->m_append = metrics_histogram(s->metrics, "vellum_store_append_seconds",
	                                "Time from commit to durable, per append", NULL,
	                                metrics_latency_buckets, metrics_latency_nbuckets);
	s->m_fsync = metrics_histogram(s->metrics, "vellum_store_fsync_seconds",
	                               "Duration of each fdatasync of a segment or head", NULL,
	                               metrics_latency_buckets, metrics_latency_nbuckets);
	static const double batch_bounds[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
	s->m_batch = metrics_histogram(s->metrics, "vellum_store_batch_jobs",
	                               "Jobs written per group commit", NULL, batch_bounds,
	                               sizeof batch_bounds / sizeof batch_bounds[0]);
}

static store_status_t open_keys(store_t *s, const config_t *cfg)
{
	char q[LOG_Q_MAX];
	keys_status_t ks = keys_master_load(cfg->storage.master_key_file,
	                                    cfg->storage.master_key_command, &s->mkey);
	if (ks == KEYS_ENOENT)
		log_error("store.open", "path=%s msg=%s",
		          log_q(q, sizeof q,
		                cfg->storage.master_key_file ? cfg->storage.master_key_file : ""),
		          "no master key (run vellum init)");
	if (ks != KEYS_OK)
		return STORE_EKEY;
	keys_id(s->mkey, s->mkey_id);
	char *kd = config_data_path(cfg, "keys");
	ks = keys_signing_load(kd, s->readonly ? NULL : &s->sign_sk, s->sign_pk);
	free(kd);
	s->have_pk = ks == KEYS_OK;
	if (ks != KEYS_OK && !s->readonly) {
		log_error("store.open", "msg=%s", "no server signing key (run vellum init)");
		return STORE_EKEY;
	}
	return STORE_OK;
}

store_status_t store_open(const config_t *cfg, const store_opts_t *opts, store_t **out)
{
	char q[LOG_Q_MAX];
	*out = NULL;
	store_t *s = xcalloc(1, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->wlock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC); /* the writer's tick */
	pthread_cond_init(&s->wcond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&s->cctx_lock, NULL);
	pthread_mutex_init(&s->plock, NULL);
	pthread_cond_init(&s->pcond, NULL);
	pthread_cond_init(&s->pidle, NULL);
	pthread_mutex_init(&s->hlock, NULL);
	pthread_cond_init(&s->hcond, NULL);
	pthread_cond_init(&s->hidle, NULL);
	s->readonly = opts && opts->mode == STORE_OPEN_READONLY;
	s->inflight_max = opts ? opts->inflight_max : 0;
	s->metrics = opts ? opts->metrics : NULL;
	s->pack_disabled = opts && opts->no_pack;
	s->pack_level = opts && opts->pack_level ? opts->pack_level : STORE_PACK_LEVEL;
	s->pack_block = opts && opts->pack_block ? opts->pack_block : STORE_PACK_BLOCK;
	if (s->pack_block > STORE_RECORD_PLAIN_MAX)
		s->pack_block = STORE_RECORD_PLAIN_MAX;
	s->data_dir = xstrdup(cfg->storage.data_dir);
	s->archives_dir = config_data_path(cfg, "archives");
	s->master_key_file = xstrdup(cfg->storage.master_key_file);
	s->master_key_command = xstrdup(cfg->storage.master_key_command);
	s->segment_max = cfg->storage.segment_max;
	s->segment_max_age = cfg->storage.segment_max_age;
	s->min_free = cfg->storage.min_free;
	metrics_init(s);
	store_status_t st = STORE_OK;
	struct stat stt;
	if (stat(s->data_dir, &stt) != 0 || !S_ISDIR(stt.st_mode)) {
		log_error("store.open", "path=%s msg=%s", log_q(q, sizeof q, s->data_dir),
		          "no data directory (run vellum init)");
		st = STORE_ENOTFOUND;
	}
	if (st == STORE_OK)
		st = open_keys(s, cfg);
	if (st == STORE_OK && !s->readonly && util_mkdir_p(s->archives_dir, 0700) != UTIL_OK) {
		log_error("store.mkdir", "path=%s err=%s", log_q(q, sizeof q, s->archives_dir),
		          strerror(errno));
		st = STORE_EIO;
	}
	if (st == STORE_OK && !s->readonly)
		st = store_key_rotate_recover(s);
	if (st == STORE_OK && access(s->archives_dir, F_OK) == 0)
		st = store_archives_load_all(s);
	if (st == STORE_OK && !s->readonly)
		st = store_archives_deleted_recover(s);
	if (st == STORE_OK && !s->readonly)
		st = store_writer_start(s);
	if (st == STORE_OK && !s->readonly)
		st = store_packer_start(s);
	if (st != STORE_OK) {
		store_packer_stop(s);
		store_writer_stop(s);
		store_free(s);
		return st;
	}
	*out = s;
	return STORE_OK;
}

void store_close(store_t *s)
{
	if (!s)
		return;
	store_packer_stop(s);
	store_writer_stop(s);
	store_free(s);
}

/* Registers the archive's gauges (and sets them). */
static void archive_metrics(store_t *s, store_archive_t *a)
{
	if (!s->metrics)
		return;
	const char *labels[] = {"archive", a->name, NULL};
	a->m_segments =
	    metrics_gauge(s->metrics, "vellum_store_segments", "Segment files per archive", labels);
	a->m_bytes = metrics_gauge(s->metrics, "vellum_store_bytes",
	                           "Segment bytes on disk per archive", labels);
	store_archive_metrics_update(a);
}

void store_archive_metrics_update(store_archive_t *a)
{
	metric_set(a->m_segments, (double)atomic_load(&a->nsegs_gauge));
	metric_set(a->m_bytes, (double)atomic_load(&a->bytes));
}

void store_table_add(store_t *s, store_archive_t *a)
{
	archive_metrics(s, a);
	if (s->narchives == s->caparchives) {
		s->caparchives = s->caparchives ? 2 * s->caparchives : 8;
		s->archives = xrealloc(s->archives, s->caparchives * sizeof *s->archives);
	}
	s->archives[s->narchives++] = a;
}

store_archive_t *store_archive_get(store_t *s, const char *name)
{
	if (!name || !store_name_valid(name, NULL))
		return NULL;
	pthread_mutex_lock(&s->lock);
	store_archive_t *a = NULL;
	bool gone = false;
	for (size_t i = 0; i < s->narchives && !a; i++)
		if (!strcmp(s->archives[i]->name, name)) {
			if (atomic_load(&s->archives[i]->deleted))
				gone = true; /* a new one of that name may follow */
			else
				a = s->archives[i];
		}
	if (!a && gone && !s->readonly) {
		pthread_mutex_unlock(&s->lock);
		return NULL;
	}
	if (!a) {
		char *dir = util_path_join(s->archives_dir, name);
		char *key = util_path_join(dir, "archive.key");
		if (access(key, F_OK) == 0 && store_archive_open(s, name, &a) == STORE_OK)
			store_table_add(s, a);
		free(key);
		free(dir);
	}
	pthread_mutex_unlock(&s->lock);
	return a;
}

store_status_t store_archive_create(store_t *s, const char *name)
{
	if (!name || !store_name_valid(name, NULL))
		return STORE_EINVAL;
	if (s->readonly)
		return STORE_EREADONLY;
	if (atomic_load(&s->failed))
		return STORE_EFAILED;
	pthread_mutex_lock(&s->lock);
	store_archive_t *a = NULL;
	store_status_t st = STORE_OK;
	for (size_t i = 0; i < s->narchives; i++)
		if (!strcmp(s->archives[i]->name, name) && !atomic_load(&s->archives[i]->deleted))
			st = STORE_EEXIST;
	if (st == STORE_OK)
		st = store_archive_create_locked(s, name, &a);
	if (st == STORE_OK)
		store_table_add(s, a);
	pthread_mutex_unlock(&s->lock);
	return st;
}

bool store_archive_exists(store_t *s, const char *name)
{
	return store_archive_get(s, name) != NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char **list_names(store_t *s, bool logs)
{
	size_t n = 0, cap = 8;
	char **v = xcalloc(cap, sizeof *v);
	DIR *d = opendir(s->archives_dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		bool is_log;
		if (!store_name_valid(de->d_name, &is_log) || (is_log && !logs))
			continue;
		char *dir = util_path_join(s->archives_dir, de->d_name);
		char *key = util_path_join(dir, "archive.key");
		bool ok = access(key, F_OK) == 0;
		free(key);
		free(dir);
		if (!ok)
			continue;
		if (n + 1 == cap) {
			cap *= 2;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n++] = xstrdup(de->d_name);
	}
	if (d)
		closedir(d);
	v[n] = NULL;
	qsort(v, n, sizeof *v, cmp_str);
	return v;
}

char **store_archive_list(store_t *s)
{
	return list_names(s, false);
}

char **store_archive_list_all(store_t *s)
{
	return list_names(s, true);
}

store_status_t store_archive_stats(store_t *s, const char *archive, store_archive_stats_t *out)
{
	memset(out, 0, sizeof *out);
	store_archive_t *a = store_archive_get(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_head_t h;
	store_status_t st = store_archive_head(s, a, &h);
	if (st != STORE_OK)
		return st;
	out->records = h.seq;
	pthread_mutex_lock(&a->cat_r_lock);
	if (!a->cat_r)
		store_cat_open(a->dir, true, &a->cat_r);
	if (a->cat_r)
		st = store_cat_stats(a->cat_r, out);
	pthread_mutex_unlock(&a->cat_r_lock);
	uint64_t *firsts;
	size_t n;
	if (st == STORE_OK && store_seg_list(a->dir, &firsts, &n) == STORE_OK) {
		out->segments = n;
		for (size_t i = 0; i < n; i++) {
			char *p = store_archive_seg_path(a, firsts[i]);
			struct stat stt;
			if (stat(p, &stt) == 0)
				out->bytes += (uint64_t)stt.st_size;
			free(p);
		}
		free(firsts);
	}
	return st;
}

static store_cat_t *cat_r(store_archive_t *a)
{
	pthread_mutex_lock(&a->cat_r_lock);
	if (!a->cat_r)
		store_cat_open(a->dir, true, &a->cat_r);
	if (!a->cat_r)
		pthread_mutex_unlock(&a->cat_r_lock);
	return a->cat_r;
}

/* Fills what a segment's header and file say. */
static void seg_info_file(store_t *s, store_archive_t *a, store_segment_info_t *si)
{
	store_segfile_t f;
	if (store_segfile_open(s, a, si->first_seq, &f) != STORE_OK)
		return;
	si->bytes = f.size;
	si->created = f.hdr.created;
	si->packed = f.packed;
	if (f.packed) {
		si->sealed = true;
		si->last_seq = f.hdr.last_seq;
	}
	store_segfile_close(&f);
}

/* Read-only stores: does the segment's last record say it is sealed? */
static bool seg_ends_sealed(store_t *s, store_archive_t *a, uint64_t first)
{
	store_segfile_t f;
	if (store_segfile_open(s, a, first, &f) != STORE_OK)
		return false;
	uint64_t off = STORE_SEG_HDR_SIZE;
	uint8_t type = 0;
	store_rec_hdr_t h;
	const char *why;
	while (store_seg_read_hdr(f.fd, f.path, off, f.size, &h, &why) == STORE_RD_OK) {
		type = h.type;
		off += h.length;
	}
	store_segfile_close(&f);
	return type == STORE_REC_SEAL;
}

store_status_t store_segments(store_t *s, const char *archive, store_segment_info_t **out,
                              size_t *n)
{
	*out = NULL;
	*n = 0;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	uint64_t *firsts;
	size_t nf;
	store_status_t st = store_seg_list(a->dir, &firsts, &nf);
	if (st != STORE_OK)
		return st;
	store_head_t h;
	st = store_archive_head(s, a, &h);
	store_segment_info_t *v = xcalloc(nf + 1, sizeof *v);
	for (size_t i = 0; i < nf && st == STORE_OK; i++) {
		store_segment_info_t *si = &v[i];
		si->first_seq = firsts[i];
		seg_info_file(s, a, si);
		if (!si->packed) {
			/* Records end where the next segment begins, or at the head. */
			uint64_t end = i + 1 < nf ? firsts[i + 1] - 1 : h.seq;
			si->last_seq = end >= si->first_seq ? end : 0;
			si->sealed = i + 1 < nf;
		}
	}
	if (nf && st == STORE_OK && !v[nf - 1].packed) {
		/* The newest takes appends unless it ends with its seal. */
		bool active = s->readonly ? !seg_ends_sealed(s, a, v[nf - 1].first_seq)
		                          : atomic_load(&a->pub_active) == v[nf - 1].first_seq;
		v[nf - 1].active = active;
		v[nf - 1].sealed = !active;
	}
	store_cat_t *c = st == STORE_OK ? cat_r(a) : NULL;
	if (c) {
		store_cat_segstat_t *ss = NULL;
		size_t nss = 0;
		st = store_cat_segstats(c, &ss, &nss);
		pthread_mutex_unlock(&a->cat_r_lock);
		for (size_t i = 0, k = 0; i < nf && st == STORE_OK; i++) {
			while (k < nss && ss[k].segment < v[i].first_seq)
				k++;
			if (k < nss && ss[k].segment == v[i].first_seq) {
				v[i].arrivals = ss[k].arrivals;
				v[i].messages = ss[k].messages;
				v[i].raw_bytes = ss[k].raw_bytes;
				v[i].received_min = ss[k].rmin;
				v[i].received_max = ss[k].rmax;
			}
		}
		free(ss);
	}
	free(firsts);
	if (st != STORE_OK) {
		free(v);
		return st;
	}
	*out = v;
	*n = nf;
	return STORE_OK;
}

store_status_t store_segment_arrivals(store_t *s, const char *archive, uint64_t segment,
                                      store_arrival_ref_t **out, size_t *n)
{
	*out = NULL;
	*n = 0;
	store_archive_t *a = store_archive_get(s, archive);
	if (!a)
		return STORE_ENOTFOUND;
	store_cat_t *c = cat_r(a);
	if (!c)
		return STORE_ENOTFOUND;
	store_cat_arr_t *arr = NULL;
	size_t narr = 0;
	store_status_t st = store_cat_seg_arrivals(c, segment, &arr, &narr);
	pthread_mutex_unlock(&a->cat_r_lock);
	if (st != STORE_OK)
		return st;
	store_arrival_ref_t *v = xcalloc(narr + 1, sizeof *v);
	for (size_t i = 0; i < narr; i++)
		v[i] = (store_arrival_ref_t){.msg_seq = arr[i].msg_seq,
		                             .record_seq = arr[i].record_seq,
		                             .segment = arr[i].segment,
		                             .received = arr[i].received,
		                             .size = arr[i].size};
	free(arr);
	*out = v;
	*n = narr;
	return STORE_OK;
}

bool store_id_parse(const char *id, char archive[STORE_NAME_MAX + 1], uint64_t *seq)
{
	const char *dash = id ? strrchr(id, '-') : NULL;
	if (!dash || dash == id || (size_t)(dash - id) > STORE_NAME_MAX)
		return false;
	const char *d = dash + 1;
	if (*d < '1' || *d > '9')
		return false; /* empty, leading zero, sign */
	uint64_t v = 0;
	for (; *d; d++) {
		if (*d < '0' || *d > '9')
			return false;
		uint64_t k = (uint64_t)(*d - '0');
		if (v > (UINT64_MAX - k) / 10)
			return false;
		v = v * 10 + k;
	}
	char name[STORE_NAME_MAX + 1];
	memcpy(name, id, (size_t)(dash - id));
	name[dash - id] = '\0';
	bool is_log;
	if (!store_name_valid(name, &is_log) || is_log)
		return false;
	memcpy(archive, name, sizeof name);
	*seq = v;
	return true;
}
