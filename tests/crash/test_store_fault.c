/* test_store_fault.c — fault injection (issue 3; test-hooks builds only):
 * write, fsync, rename and open fail with EIO or ENOSPC at the Nth call
 * while a process appends (small and streamed messages), seals, packs,
 * deletes, signs a checkpoint and rotates the master key.  For every case:
 * no append is reported durable that is not there after a restart with the
 * same SHA-256; once an append failed every later one fails (the store fails
 * closed, nothing retried); after the restart the store opens, `verify` is
 * clean and appends work again.
 *
 * Fault rules are read once per process, so each case runs the workload in
 * a child (this program again, with VELLUM_FAULTS set) and checks it from
 * the parent.
 */
#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "tap.h"
#include "vellum/config.h"
#include "vellum/log.h"
#include "vellum/store.h"
#include "vellum/util.h"

static config_t *make_cfg(const char *root)
{
	char *text = xasprintf("[storage]\ndata_dir = %s/data\nmaster_key_file = %s/master.key\n"
	                       "min_free = 0\n",
	                       root, root);
	config_t *c = NULL;
	char *err = NULL;
	if (config_load_string(text, strlen(text), "fault.conf", root, &c, &err) != CONFIG_OK) {
		printf("Bail out! config: %s\n", err);
		exit(1);
	}
	free(text);
	c->storage.segment_max = 16u << 10; /* seals (and packing) during the workload */
	return c;
}

static size_t msg_make(unsigned n, uint8_t **out)
{
	size_t len = n == 3 ? (size_t)1300000 : 300 + n * 911;
	uint8_t *b = xmalloc(len);
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)("fault injection test message body\r\n"[(i + n) % 35]);
	int k = snprintf((char *)b, len, "Subject: m%u\r\n\r\n", n);
	b[k] = 'x';
	*out = b;
	return len;
}

static store_status_t append(store_t *s, const uint8_t *m, size_t len, uint64_t *id)
{
	const char *arch = "f";
	store_envelope_t e = {.listener = "fault"};
	store_append_t *a;
	store_status_t st = store_append_begin(s, &e, &arch, 1, &a);
	if (st != STORE_OK)
		return st;
	for (size_t off = 0; off < len; off += 200000)
		store_append_write(a, m + off, len - off < 200000 ? len - off : 200000);
	store_completion_t *c = store_append_commit_wait(a);
	st = c->status;
	*id = st == STORE_OK ? c->ids[0].seq : 0;
	store_completion_free(c);
	return st;
}

static void print_ack(uint64_t id, const uint8_t *m, size_t len)
{
	uint8_t d[32];
	char hex[65];
	crypto_hash_sha256(d, m, len);
	util_hex(d, 32, hex);
	printf("ACK %" PRIu64 " %s\n", id, hex);
}

/* The workload, in the child, with faults. */
static int child(const char *root)
{
	config_t *cfg = make_cfg(root);
	store_t *s = NULL;
	store_opts_t o = {.pack_level = 1}; /* fast packing: the workload is about faults */
	store_status_t st = store_open(cfg, &o, &s);
	if (st != STORE_OK) {
		printf("OPENFAIL %s\n", store_strerror(st));
		config_free(cfg);
		return 0;
	}
	for (unsigned i = 0; i < 12; i++) {
		uint8_t *m;
		size_t len = msg_make(i, &m);
		uint64_t id;
		st = append(s, m, len, &id);
		if (st == STORE_OK)
			print_ack(id, m, len);
		else
			printf("FAIL %s\n", store_strerror(st));
		free(m);
		if (i == 5)
			printf("SEAL %s\n", store_strerror(store_seal(s, "f")));
		if (i == 7) {
			uint64_t ids[] = {1, 2};
			store_delete_req_t req = {.kind = STORE_DEL_PURGE,
			                          .reason = "fault test",
			                          .actor = "test",
			                          .msgs = ids,
			                          .nmsgs = 2,
			                          .seal_active = true};
			store_delete_result_t res;
			printf("DEL 1 2\n");
			if (store_delete(s, "f", &req, &res) == STORE_OK)
				printf("DELOK\n");
			free(res.removed);
		}
		if (i == 9)
			printf("CKPT %s\n", store_strerror(store_checkpoint(s, "f")));
		if (i == 10) {
			store_rotate_result_t r;
			printf("ROT %s\n", store_strerror(store_key_rotate(s, NULL, &r)));
		}
		fflush(stdout);
	}
	store_close(s);
	config_free(cfg);
	return 0;
}

typedef struct outcome {
	char acks[64][80];
	size_t nacks;
	bool failed_then_acked;
	bool any_fail, del_ok, del_tried;
	char first_fail[64];
} outcome_t;

static void parse(const char *text, outcome_t *o)
{
	memset(o, 0, sizeof *o);
	char *copy = xstrdup(text), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (!strncmp(l, "ACK ", 4) && o->nacks < 64) {
			snprintf(o->acks[o->nacks++], sizeof o->acks[0], "%s", l + 4);
			if (o->any_fail)
				o->failed_then_acked = true;
		} else if (!strncmp(l, "FAIL ", 5)) {
			if (!o->any_fail)
				snprintf(o->first_fail, sizeof o->first_fail, "%s", l + 5);
			o->any_fail = true;
		} else if (!strcmp(l, "DELOK")) {
			o->del_ok = true;
		} else if (!strncmp(l, "DEL ", 4)) {
			o->del_tried = true;
		}
	}
	free(copy);
}

static bool present(store_t *s, uint64_t id, const char *hex)
{
	store_reader_t *r;
	if (store_msg_open(s, "f", id, &r) != STORE_OK)
		return false;
	crypto_hash_sha256_state sh;
	crypto_hash_sha256_init(&sh);
	uint8_t buf[65536];
	size_t got;
	store_status_t st;
	while ((st = store_reader_read(r, buf, sizeof buf, &got)) == STORE_OK && got)
		crypto_hash_sha256_update(&sh, buf, got);
	store_reader_close(r);
	uint8_t d[32];
	char dh[65];
	crypto_hash_sha256_final(&sh, d);
	util_hex(d, 32, dh);
	return st == STORE_OK && !strcmp(dh, hex);
}

static void on_problem(void *arg, const char *archive, const char *problem)
{
	buf_t *b = arg;
	buf_printf(b, "%s: %s\n", archive, problem);
}

/* Checks a case after the child ran; returns a reason or NULL. */
static const char *check(const char *root, const outcome_t *o, const char (*pre)[80], buf_t *diag)
{
	if (o->failed_then_acked)
		return "an append succeeded after one had failed (not failed closed)";
	config_t *cfg = make_cfg(root);
	store_t *s = NULL;
	store_status_t st = store_open(cfg, NULL, &s);
	const char *why = NULL;
	if (st != STORE_OK) {
		buf_printf(diag, "store_open: %s\n", store_strerror(st));
		why = "the store does not open after the failure";
	}
	for (size_t i = 0; !why && i < 3; i++) {
		uint64_t id;
		char hex[80];
		sscanf(pre[i], "%" SCNu64 " %79s", &id, hex);
		store_msg_t *m = NULL;
		bool gone = store_msg_get(s, "f", id, &m) == STORE_ENOTFOUND;
		store_msg_free(m);
		if (o->del_ok && id <= 2 && !gone)
			why = "a confirmed deletion did not happen";
		else if (!present(s, id, hex) && !(o->del_tried && id <= 2 && gone))
			why = "a message acknowledged before the faults is lost";
	}
	for (size_t i = 0; !why && i < o->nacks; i++) {
		uint64_t id;
		char hex[80];
		sscanf(o->acks[i], "%" SCNu64 " %79s", &id, hex);
		if (!present(s, id, hex)) {
			buf_printf(diag, "missing %s\n", o->acks[i]);
			why = "an acknowledged append is not there after the restart";
		}
	}
	store_verify_report_t rep;
	if (!why && store_verify(s, NULL, on_problem, diag, &rep) == STORE_OK && rep.problems)
		why = "verify is not clean after the restart";
	if (!why) {
		uint8_t *m;
		size_t len = msg_make(20, &m);
		uint64_t id;
		store_status_t ast = append(s, m, len, &id);
		if (ast != STORE_OK) {
			buf_printf(diag, "append: %s\n", store_strerror(ast));
			why = "appends do not work after the restart";
		}
		free(m);
	}
	store_close(s);
	config_free(cfg);
	return why;
}

static char self[4096];

static bool run_case(const char *point, unsigned nth, const char *err, int *injected)
{
	char *root = tap_tmpdir("fault");
	config_t *cfg = make_cfg(root);
	store_init_keys(cfg);
	store_t *s = NULL;
	char pre[3][80];
	if (store_open(cfg, NULL, &s) != STORE_OK || store_archive_create(s, "f") != STORE_OK) {
		printf("Bail out! setup\n");
		exit(1);
	}
	for (unsigned i = 0; i < 3; i++) {
		uint8_t *m;
		size_t len = msg_make(100 + i, &m);
		uint64_t id;
		append(s, m, len, &id);
		uint8_t d[32];
		char hex[65];
		crypto_hash_sha256(d, m, len);
		util_hex(d, 32, hex);
		snprintf(pre[i], sizeof pre[i], "%" PRIu64 " %s", id, hex);
		free(m);
	}
	store_close(s);
	config_free(cfg);

	int outp[2], errp[2];
	if (pipe(outp) || pipe(errp))
		exit(1);
	pid_t pid = fork();
	if (pid == 0) {
		char spec[128];
		snprintf(spec, sizeof spec, "%s:%u:%s", point, nth, err);
		setenv("VELLUM_FAULTS", spec, 1);
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		execl(self, self, "--child", root, (char *)NULL);
		_exit(127);
	}
	close(outp[1]);
	close(errp[1]);
	buf_t out = {0}, errb = {0};
	char tmp[4096];
	ssize_t r;
	while ((r = read(outp[0], tmp, sizeof tmp)) > 0)
		buf_append(&out, tmp, (size_t)r);
	while ((r = read(errp[0], tmp, sizeof tmp)) > 0)
		buf_append(&errb, tmp, (size_t)r);
	close(outp[0]);
	close(errp[0]);
	int status = 0;
	waitpid(pid, &status, 0);
	buf_append(&out, "", 0);
	buf_append(&errb, "", 0);
	outcome_t o;
	parse((const char *)out.data, &o);
	bool hit = strstr((const char *)errb.data, "test hook: injecting") != NULL;
	*injected += hit;
	buf_t dg = {0};
	const char *why = !WIFEXITED(status) || WEXITSTATUS(status)
	                      ? "the child crashed"
	                      : check(root, &o, (const char(*)[80])pre, &dg);
	ok(!why, "%s fails with %s at call %u%s: %s", point, err, nth,
	   hit ? (o.any_fail ? " (appends failed closed)" : " (no append failed)")
	       : " (not reached)",
	   why ? why : "nothing acknowledged lost, verify clean, appends resume");
	if (why) {
		diag("child output:\n%s", (const char *)out.data);
		if (dg.len)
			diag("%s", (const char *)dg.data);
	}
	buf_free(&out);
	buf_free(&errb);
	buf_free(&dg);
	if (getenv("VELLUM_KEEP_TMP"))
		diag("kept %s", root);
	else
		tap_rmtree(root);
	free(root);
	return !why;
}

int main(int argc, char **argv)
{
	log_set_level(LOG_LEVEL_OFF);
	if (sodium_init() < 0)
		return 1;
	if (argc == 3 && !strcmp(argv[1], "--child"))
		return child(argv[2]);
	if (!util_test_hooks_enabled()) {
		ok(1, "# SKIP fault injection needs --enable-test-hooks");
		return tap_done();
	}
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	self[n > 0 ? n : 0] = 0;
	bool small = getenv("VELLUM_TEST_SCALE") && !strcmp(getenv("VELLUM_TEST_SCALE"), "small");
	static const char *points[] = {"store.write", "store.fsync", "store.rename", "store.open"};
	static const unsigned nths_full[] = {1, 2, 3, 4, 5, 7, 10, 14, 19, 25, 33, 45};
	static const unsigned nths_small[] = {1, 3, 7, 19};
	const unsigned *nths = small ? nths_small : nths_full;
	size_t nn = small ? 4 : sizeof nths_full / sizeof nths_full[0];
	int injected = 0, cases = 0;
	const char *one = getenv("VELLUM_FAULT_CASE"); /* "point:N:ERR" to debug one case */
	if (one) {
		char point[64], err[16];
		unsigned nth;
		if (sscanf(one, "%63[^:]:%u:%15s", point, &nth, err) == 3) {
			log_set_level(LOG_LEVEL_INFO);
			run_case(point, nth, err, &injected);
		}
		return tap_done();
	}
	for (size_t p = 0; p < 4; p++)
		for (size_t k = 0; k < nn; k++, cases++)
			run_case(points[p], nths[k], (k + p) % 2 ? "ENOSPC" : "EIO", &injected);
	ok(injected >= cases * 2 / 3, "faults were injected in %d of %d cases", injected, cases);
	return tap_done();
}
