/* smtp_auth.c — the AUTH worker: SMTP password checks off the event loop.
 *
 * Does: run one thread that takes AUTH jobs (user, password, client) in
 * order, checks the password against the database (auth.h: Argon2id, a
 * missing user costs as much as a wrong password), requires the `ingest`
 * role on some archive (DESIGN.md §5: ingest is the role for SMTP AUTH),
 * appends an audit record of the attempt (action "smtp.auth", outcome ok or
 * failed), wipes the password and hands the job back through a queue whose
 * eventfd the SMTP loop watches.
 *
 * Does not: speak SMTP, decode SASL or slow failures down (the session holds
 * a failed answer back on its own timer, so the worker is never asleep while
 * others wait).  One thread bounds the memory Argon2id takes (64 MiB per
 * check) and the CPU a password-guessing client can use.
 *
 * Fail closed: when the audit record of a successful check cannot be written,
 * the result is an error (454 4.7.0, the client retries), never a success.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "smtp_private.h"
#include "vellum/audit.h"
#include "vellum/auth.h"
#include "vellum/log.h"

struct smtp_auth {
	app_t *app;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	smtp_auth_job_t *todo, *todo_tail;
	size_t ntodo;
	smtp_auth_job_t *done, *done_tail;
	bool stop;
	int efd;
};

static void push(smtp_auth_job_t **head, smtp_auth_job_t **tail, smtp_auth_job_t *j)
{
	j->next = NULL;
	if (*tail)
		(*tail)->next = j;
	else
		*head = j;
	*tail = j;
}

static smtp_auth_job_t *pop(smtp_auth_job_t **head, smtp_auth_job_t **tail)
{
	smtp_auth_job_t *j = *head;
	if (j) {
		*head = j->next;
		if (!*head)
			*tail = NULL;
		j->next = NULL;
	}
	return j;
}

static bool audit_attempt(smtp_auth_t *a, const smtp_auth_job_t *j, const char *outcome)
{
	if (!a->app->audit)
		return true;
	json_t *detail = json_pack("{s:s, s:s}", "listener", j->listener, "mechanism", j->mech);
	audit_event_t ev = {
	    .who = j->user,
	    .from = j->client,
	    .action = "smtp.auth",
	    .outcome = outcome,
	    .detail = detail,
	};
	audit_status_t st = audit_record(a->app->audit, &ev, NULL);
	json_decref(detail);
	return st == AUDIT_OK;
}

static void check(smtp_auth_t *a, smtp_auth_job_t *j)
{
	auth_principal_t *p = NULL;
	auth_status_t st = auth_check_password(a->app->db, j->user, j->pass, &p);
	sodium_memzero(j->pass, sizeof j->pass);
	if (st == AUTH_OK && !auth_has_role_any(p, ROLE_INGEST)) {
		auth_principal_free(p);
		p = NULL;
		st = AUTH_EDENIED;
		log_info("smtp.auth",
		         "listener=%s client=%s user=%s result=denied why=no ingest role",
		         j->listener, j->client, j->user);
	}
	if (st == AUTH_OK) {
		j->result = audit_attempt(a, j, "ok") ? SMTP_AUTH_RES_OK : SMTP_AUTH_RES_ERROR;
		if (j->result == SMTP_AUTH_RES_OK)
			j->principal = p;
		else
			auth_principal_free(p);
	} else if (st == AUTH_EDENIED || st == AUTH_ENOTFOUND || st == AUTH_EINVAL) {
		/* A failed login is recorded too; if even that fails the
		 * answer is still a refusal. */
		audit_attempt(a, j, "failed");
		j->result = SMTP_AUTH_RES_DENIED;
	} else {
		j->result = SMTP_AUTH_RES_ERROR;
	}
}

static void *worker(void *arg)
{
	smtp_auth_t *a = arg;
	pthread_setname_np(pthread_self(), "vellum-auth");
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->todo && !a->stop)
			pthread_cond_wait(&a->cond, &a->lock);
		smtp_auth_job_t *j = pop(&a->todo, &a->todo_tail);
		if (!j)
			break; /* stop, and nothing left to do */
		a->ntodo--;
		pthread_mutex_unlock(&a->lock);
		check(a, j);
		pthread_mutex_lock(&a->lock);
		push(&a->done, &a->done_tail, j);
		uint64_t one = 1;
		ssize_t w = write(a->efd, &one, sizeof one);
		(void)w; /* a full counter still reads as readable */
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

smtp_auth_t *smtp_auth_new(app_t *app)
{
	smtp_auth_t *a = xcalloc(1, sizeof *a);
	a->app = app;
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	int rc = a->efd < 0 ? errno : pthread_create(&a->thread, NULL, worker, a);
	if (rc != 0) {
		log_error("smtp.auth", "op=start err=%s", strerror(rc));
		if (a->efd >= 0)
			close(a->efd);
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->cond);
		free(a);
		return NULL;
	}
	return a;
}

int smtp_auth_fd(const smtp_auth_t *a)
{
	return a->efd;
}

bool smtp_auth_submit(smtp_auth_t *a, smtp_auth_job_t *j)
{
	pthread_mutex_lock(&a->lock);
	bool ok = a->ntodo < SMTP_AUTH_QUEUE_MAX && !a->stop;
	if (ok) {
		push(&a->todo, &a->todo_tail, j);
		a->ntodo++;
		pthread_cond_signal(&a->cond);
	}
	pthread_mutex_unlock(&a->lock);
	return ok;
}

smtp_auth_job_t *smtp_auth_pop(smtp_auth_t *a)
{
	pthread_mutex_lock(&a->lock);
	smtp_auth_job_t *j = pop(&a->done, &a->done_tail);
	if (!a->done) {
		uint64_t v;
		ssize_t r = read(a->efd, &v, sizeof v);
		(void)r; /* EAGAIN when already clear */
	}
	pthread_mutex_unlock(&a->lock);
	return j;
}

void smtp_auth_job_free(smtp_auth_job_t *j)
{
	if (!j)
		return;
	auth_principal_free(j->principal);
	sodium_memzero(j, sizeof *j);
	free(j);
}

void smtp_auth_free(smtp_auth_t *a)
{
	if (!a)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = true;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
	pthread_join(a->thread, NULL);
	smtp_auth_job_t *j;
	while ((j = pop(&a->done, &a->done_tail)) != NULL)
		smtp_auth_job_free(j);
	close(a->efd);
	pthread_mutex_destroy(&a->lock);
	pthread_cond_destroy(&a->cond);
	free(a);
}
