/*
 * The broker's connections to Redis: the URL, hiredis's asynchronous
 * client driven by the broker's own poll() (no event library), and
 * reconnection with back-off.
 *
 * Three connections, because a blocking read holds its connection: one
 * for commands (XADD, the answers' MULTI/EXEC, claims), one that blocks
 * in XREADGROUP for jobs (only with workers), one that blocks in XREAD
 * for this broker's answers.  With redis-sentinel:// a fourth asks the
 * sentinels where the master is (worker/queue_sentinel.c).
 */
#include <sys/time.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define QUEUE_BACKOFF_MS	100
#define QUEUE_MAXBACK_MS	5000

struct qurl {
	char	*u_host;
	char	*u_path;
	int	 u_port;
	char	*u_user;
	char	*u_pass;
	int	 u_db;
};

static void
qurl_free(struct qurl *u)
{
	free(u->u_host);
	free(u->u_path);
	free(u->u_user);
	free(u->u_pass);
	memset(u, 0, sizeof(*u));
}

static int
qurl_err(struct qurl *u, char *err, size_t len, const char *why)
{
	qurl_free(u);
	(void)snprintf(err, len, "%s", why);
	return -1;
}

/* redis://[user:password@]host[:port][/db] or unix:/path. */
static int
qurl_parse(struct qurl *u, const char *url, char *err, size_t len)
{
	const char	*p, *at, *slash, *colon, *errstr;
	char		 buf[512];

	memset(u, 0, sizeof(*u));
	u->u_port = 6379;
	if (strncmp(url, "unix:", 5) == 0) {
		if (url[5] != '/')
			return qurl_err(u, err, len, "unix:/path: the path "
			    "must be absolute");
		if ((u->u_path = strdup(url + 5)) == NULL)
			return qurl_err(u, err, len, "out of memory");
		return 0;
	}
	if (strncmp(url, "redis://", 8) != 0)
		return qurl_err(u, err, len, "not redis://host[:port][/db], "
		    "redis-sentinel://host[:port][,...]/master[/db] or "
		    "unix:/path");
	if (strlcpy(buf, url + 8, sizeof(buf)) >= sizeof(buf))
		return qurl_err(u, err, len, "too long");
	p = buf;
	if ((at = strrchr(p, '@')) != NULL) {
		buf[at - buf] = '\0';
		if ((colon = strchr(p, ':')) != NULL) {
			buf[colon - buf] = '\0';
			u->u_pass = strdup(colon + 1);
			if (*p != '\0')
				u->u_user = strdup(p);
		} else
			u->u_pass = strdup(p);
		p = at + 1;
	}
	if ((slash = strchr(p, '/')) != NULL) {
		buf[slash - buf] = '\0';
		if (slash[1] != '\0') {
			u->u_db = strtonum(slash + 1, 0, 1000, &errstr);
			if (errstr != NULL)
				return qurl_err(u, err, len, "the database "
				    "number is not 0 to 1000");
		}
	}
	if (p[0] == '[') {		/* [::1]:port */
		if ((colon = strchr(p, ']')) == NULL)
			return qurl_err(u, err, len, "no ] after the address");
		buf[colon - buf] = '\0';
		p++;
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else if ((colon = strchr(p, ':')) != NULL)
		buf[colon - buf] = '\0';
	if (colon != NULL) {
		u->u_port = strtonum(colon + 1, 1, 65535, &errstr);
		if (errstr != NULL)
			return qurl_err(u, err, len, "the port is not 1 to "
			    "65535");
	}
	if (*p == '\0')
		return qurl_err(u, err, len, "no host");
	if ((u->u_host = strdup(p)) == NULL)
		return qurl_err(u, err, len, "out of memory");
	return 0;
}

/* The URL's form, for -n and before anything forks. */
int
queue_check(const char *url, char *err, size_t len)
{
	struct qurl	 u;

	if (strncmp(url, "redis-sentinel://", 17) == 0)
		return queue_sentinel_parse(NULL, url, err, len);
	if (qurl_parse(&u, url, err, len) == -1)
		return -1;
	qurl_free(&u);
	return 0;
}

/* hiredis asks for events; poll() waits for them (queue_pollfds). */
static void qc_addread(void *p) { ((struct qconn *)p)->qc_rd = 1; }
static void qc_delread(void *p) { ((struct qconn *)p)->qc_rd = 0; }
static void qc_addwrite(void *p) { ((struct qconn *)p)->qc_wr = 1; }
static void qc_delwrite(void *p) { ((struct qconn *)p)->qc_wr = 0; }
static void
qc_cleanup(void *p)
{
	struct qconn	*qc = p;

	qc->qc_rd = qc->qc_wr = 0;
}

static void
qc_down(struct qconn *qc)
{
	qc->qc_ac = NULL;
	qc->qc_up = 0;
	qc->qc_reading = 0;
	qc->qc_rd = qc->qc_wr = 0;
	clock_now(&qc->qc_retry);
	clock_add(&qc->qc_retry, qc->qc_backoff);
	qc->qc_backoff = qc->qc_backoff == 0 ? QUEUE_BACKOFF_MS :
	    qc->qc_backoff * 2;
	if (qc->qc_backoff > QUEUE_MAXBACK_MS)
		qc->qc_backoff = QUEUE_MAXBACK_MS;
}

static void
qc_connected(const redisAsyncContext *ac, int status)
{
	struct qconn	*qc = ac->data;

	if (status != REDIS_OK) {
		if (qc->qc_backoff == 0 && qc->qc_role == QC_CMD)
			log_warnx("queue: %s", ac->errstr);
		qc_down(qc);	/* hiredis frees ac */
		if (qc->qc_q->q_sentinel != NULL)
			queue_sentinel_lost(qc->qc_q, 0);
		return;
	}
	/* Up once PING answers: a restarting Redis says LOADING first. */
}

static void
qc_pong(redisAsyncContext *ac, void *r, void *priv)
{
	struct qconn	*qc = ac->data;
	redisReply	*rp = r;

	(void)priv;
	/* NULL, or ROLE said this is no longer the master. */
	if (rp == NULL || (ac->c.flags & REDIS_DISCONNECTING))
		return;
	if (rp->type == REDIS_REPLY_ERROR) {
		if (qc->qc_role == QC_CMD)
			log_warnx("queue: %s", rp->str);
		redisAsyncDisconnect(ac);
		return;
	}
	if (qc->qc_backoff != 0 && qc->qc_role == QC_CMD)
		log_info("queue: connected");
	qc->qc_backoff = 0;
	qc->qc_up = 1;
	queue_hello(qc->qc_q, qc->qc_role);
}

static void
qc_disconnected(const redisAsyncContext *ac, int status)
{
	struct qconn	*qc = ac->data;

	if (status != REDIS_OK && qc->qc_role == QC_CMD && qc->qc_up)
		log_warnx("queue: connection lost: %s", ac->errstr);
	qc_down(qc);
	if (qc->qc_backoff < QUEUE_BACKOFF_MS * 2)
		qc->qc_backoff = QUEUE_BACKOFF_MS * 2;
	if (qc->qc_q->q_sentinel != NULL)
		queue_sentinel_lost(qc->qc_q, 0);
}

/* Replies to AUTH and SELECT: an error there is the config's. */
static void
qc_helloreply(redisAsyncContext *ac, void *r, void *priv)
{
	redisReply	*rp = r;

	(void)priv;
	if (rp != NULL && rp->type == REDIS_REPLY_ERROR) {
		log_warnx("queue: %s", rp->str);
		redisAsyncDisconnect(ac);
	}
}

/* hiredis's events go to qc's poll() entry. */
void
queue_attach(struct qconn *qc, redisAsyncContext *ac)
{
	ac->data = qc;
	ac->ev.data = qc;
	ac->ev.addRead = qc_addread;
	ac->ev.delRead = qc_delread;
	ac->ev.addWrite = qc_addwrite;
	ac->ev.delWrite = qc_delwrite;
	ac->ev.cleanup = qc_cleanup;
	queue_arena_use(&qc->qc_arena, ac);
	qc->qc_ac = ac;
	qc->qc_wr = 1;		/* the connect completes on writability */
}

static void
qc_open(struct queue *q, struct qconn *qc)
{
	redisAsyncContext	*ac;
	const char		*argv[3];
	char			 db[16], name[96];
	int			 n = 1;

	if (q->q_path != NULL)
		ac = redisAsyncConnectUnix(q->q_path);
	else
		ac = redisAsyncConnect(q->q_host, q->q_port);
	if (ac == NULL) {
		qc_down(qc);
		return;
	}
	if (ac->err) {
		if (qc->qc_backoff == 0 && qc->qc_role == QC_CMD)
			log_warnx("queue: %s", ac->errstr);
		redisAsyncFree(ac);
		qc_down(qc);
		return;
	}
	queue_attach(qc, ac);
	(void)redisAsyncSetConnectCallback(ac, qc_connected);
	(void)redisAsyncSetDisconnectCallback(ac, qc_disconnected);
	if (q->q_pass != NULL) {
		argv[0] = "AUTH";
		if (q->q_user != NULL)
			argv[n++] = q->q_user;
		argv[n++] = q->q_pass;
		(void)redisAsyncCommandArgv(ac, qc_helloreply, NULL, n, argv,
		    NULL);
	}
	if (q->q_db != 0) {
		(void)snprintf(db, sizeof(db), "%d", q->q_db);
		argv[0] = "SELECT";
		argv[1] = db;
		(void)redisAsyncCommandArgv(ac, qc_helloreply, NULL, 2, argv,
		    NULL);
	}
	/* CLIENT LIST names each: NAME:cmd, NAME:jobs, NAME:reply. */
	(void)snprintf(name, sizeof(name), "%s:%s", q->q_group,
	    qc->qc_role == QC_CMD ? "cmd" : qc->qc_role == QC_JOBS ? "jobs" :
	    "reply");
	argv[0] = "CLIENT";
	argv[1] = "SETNAME";
	argv[2] = name;
	(void)redisAsyncCommandArgv(ac, qc_helloreply, NULL, 3, argv, NULL);
	if (q->q_sentinel != NULL)
		queue_sentinel_hello(q, ac);
	argv[0] = "PING";
	(void)redisAsyncCommandArgv(ac, qc_pong, NULL, 1, argv, NULL);
}

/* Connect what is down and due; first, ask where, if that is not known. */
void
queue_connect(struct queue *q)
{
	struct timespec	 now;
	int		 i, want = 0;

	clock_now(&now);
	for (i = 0; i < QUEUE_NCONN; i++) {
		if (q->q_conn[i].qc_ac != NULL || q->q_conn[i].qc_off ||
		    timespeccmp(&now, &q->q_conn[i].qc_retry, <))
			continue;
		if (q->q_host == NULL && q->q_path == NULL)
			want = 1;
		else
			qc_open(q, &q->q_conn[i]);
	}
	if (q->q_sentinel != NULL)
		queue_sentinel_ask(q, want);
}

/*
 * The master moved: every connection still open goes now, and is due
 * again at once (it reaches the new one).
 */
void
queue_drop(struct queue *q)
{
	struct qconn		*qc;
	redisAsyncContext	*ac;
	int			 i;

	for (i = 0; i < QC_SENTINEL; i++) {
		qc = &q->q_conn[i];
		if ((ac = qc->qc_ac) == NULL)
			continue;
		redisAsyncFree(ac);	/* its callbacks: NULL, lost */
		qc->qc_ac = NULL;
		qc->qc_up = qc->qc_reading = 0;
		qc->qc_rd = qc->qc_wr = 0;
		qc->qc_backoff = 0;
		clock_now(&qc->qc_retry);
	}
}

/* ms until a connection is due, or -1. */
long long
queue_retryin(struct queue *q)
{
	struct timespec	 now;
	long long	 ms, min = -1;
	int		 i;

	clock_now(&now);
	for (i = 0; i < QUEUE_NCONN; i++) {
		if (q->q_conn[i].qc_ac != NULL || q->q_conn[i].qc_off)
			continue;
		if ((ms = clock_ms(&now, &q->q_conn[i].qc_retry)) < 0)
			ms = 0;
		if (min == -1 || ms < min)
			min = ms;
	}
	/* Nothing connects before a sentinel says where. */
	if (min != -1 && q->q_sentinel != NULL && q->q_host == NULL &&
	    (ms = queue_sentinel_retryin(q)) > min)
		min = ms;
	return min;
}

int
queue_up(struct queue *q, int role)
{
	return q->q_conn[role].qc_up;
}

/* v in decimal at p, without snprintf's cost; returns the end. */
char *
queue_decimal(char *p, uint64_t v)
{
	char	 t[24];
	int	 i = 0;

	do
		t[i++] = '0' + v % 10;
	while ((v /= 10) != 0);
	while (i > 0)
		*p++ = t[--i];
	return p;
}

/* n in decimal at p, then CR LF. */
static char *
queue_resplen(char *p, size_t n)
{
	p = queue_decimal(p, n);
	*p++ = '\r';
	*p++ = '\n';
	return p;
}

/*
 * The command in Redis's protocol, in q's buffer, which stays for the
 * next: hiredis's own formatting goes through a printf-like call a
 * word, and the submitter formats a command a job.
 */
static size_t
queue_format(struct queue *q, int argc, const char **argv,
    const size_t *len)
{
	size_t	 need = 24, l;
	char	*p;
	int	 i;

	for (i = 0; i < argc; i++)
		need += (len != NULL ? len[i] : strlen(argv[i])) + 26;
	if (need > q->q_fmtcap) {
		free(q->q_fmt);
		if ((q->q_fmt = malloc(need)) == NULL)
			fatal("queue");
		q->q_fmtcap = need;
	}
	p = q->q_fmt;
	*p++ = '*';
	p = queue_resplen(p, argc);
	for (i = 0; i < argc; i++) {
		l = len != NULL ? len[i] : strlen(argv[i]);
		*p++ = '$';
		p = queue_resplen(p, l);
		memcpy(p, argv[i], l);
		p += l;
		*p++ = '\r';
		*p++ = '\n';
	}
	return p - q->q_fmt;
}

/* A command on a connection that is up; -1 when it is not. */
int
queue_cmd(struct queue *q, int role, redisCallbackFn *fn, void *priv,
    int argc, const char **argv, const size_t *len)
{
	struct qconn	*qc = &q->q_conn[role];
	size_t		 n;

	if (!qc->qc_up)
		return -1;
	n = queue_format(q, argc, argv, len);
	if (q->q_sentinel != NULL)
		return queue_sentinel_cmd(qc, fn, priv, q->q_fmt, n);
	if (redisAsyncFormattedCommand(qc->qc_ac, fn, priv, q->q_fmt, n) !=
	    REDIS_OK)
		return -1;
	return 0;
}

/* A field of a stream entry's [f1, v1, f2, v2 ...], or NULL. */
const redisReply *
queue_field(const redisReply *fields, const char *name)
{
	size_t	 i;

	if (fields == NULL || fields->type != REDIS_REPLY_ARRAY)
		return NULL;
	for (i = 0; i + 1 < fields->elements; i += 2)
		if (fields->element[i]->type == REDIS_REPLY_STRING &&
		    strcmp(fields->element[i]->str, name) == 0 &&
		    fields->element[i + 1]->type == REDIS_REPLY_STRING)
			return fields->element[i + 1];
	return NULL;
}

/* The broker's poll() entries for the connections: at most QUEUE_NCONN. */
int
queue_pollfds(struct queue *q, struct pollfd *pfd)
{
	struct qconn	*qc;
	int		 i, n = 0;

	for (i = 0; i < QUEUE_NCONN; i++) {
		qc = &q->q_conn[i];
		pfd[n].fd = -1;		/* poll() skips it */
		pfd[n].events = 0;
		if (qc->qc_ac != NULL) {
			pfd[n].fd = qc->qc_ac->c.fd;
			pfd[n].events = (qc->qc_rd ? POLLIN : 0) |
			    (qc->qc_wr ? POLLOUT : 0);
		}
		n++;
	}
	return n;
}

/*
 * What the turn asked of Redis leaves now, not after a poll() that would
 * only say the socket takes it: a poll() a turn fewer.  Only on a
 * connection that is up: until then writability is how a connect ends.
 */
void
queue_write(struct queue *q)
{
	struct qconn	*qc;
	int		 i;

	for (i = 0; i < QUEUE_NCONN; i++) {
		qc = &q->q_conn[i];
		if (qc->qc_ac != NULL && qc->qc_wr &&
		    (qc->qc_ac->c.flags & REDIS_CONNECTED))
			redisAsyncHandleWrite(qc->qc_ac);
	}
}

void
queue_events(struct queue *q, const struct pollfd *pfd, int n)
{
	struct qconn	*qc;
	int		 i;

	for (i = 0; i < n && i < QUEUE_NCONN; i++) {
		qc = &q->q_conn[i];
		if (qc->qc_ac == NULL || pfd[i].fd != qc->qc_ac->c.fd)
			continue;
		if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			redisAsyncHandleRead(qc->qc_ac);
		/* The read may have ended the connection. */
		if (qc->qc_ac != NULL && (pfd[i].revents & POLLOUT))
			redisAsyncHandleWrite(qc->qc_ac);
	}
}

/*
 * The broker's queue: keys from --queue-name, a consumer name of its own
 * (host, pid and start time: a restarted broker is someone else, whose
 * predecessor's jobs are claimed like any dead host's).
 */
struct queue *
queue_open(struct broker *b)
{
	struct config	*cf = b->b_cf;
	struct queue	*q;
	struct qurl	 u;
	struct timespec	 ts;
	char		 host[64], err[128];
	int		 i;

	if ((q = calloc(1, sizeof(*q))) == NULL)
		fatal("queue");
	q->q_b = b;
	if (strncmp(cf->cf_queue, "redis-sentinel://", 17) == 0) {
		if (queue_sentinel_parse(q, cf->cf_queue, err,
		    sizeof(err)) == -1)
			fatalx("queue %s: %s", cf->cf_queue, err);
	} else {
		if (qurl_parse(&u, cf->cf_queue, err, sizeof(err)) == -1)
			fatalx("queue %s: %s", cf->cf_queue, err);
		q->q_host = u.u_host;
		q->q_path = u.u_path;
		q->q_port = u.u_port;
		q->q_user = u.u_user;
		q->q_pass = u.u_pass;
		q->q_db = u.u_db;
	}
	if (gethostname(host, sizeof(host)) == -1)
		(void)strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)snprintf(q->q_me, sizeof(q->q_me), "%s:%d:%lld", host,
	    (int)getpid(), (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	(void)snprintf(q->q_group, sizeof(q->q_group), "%s",
	    cf->cf_queue_name);
	(void)snprintf(q->q_jobs, sizeof(q->q_jobs), "%s:jobs",
	    cf->cf_queue_name);
	(void)snprintf(q->q_dead, sizeof(q->q_dead), "%s:dead",
	    cf->cf_queue_name);
	(void)snprintf(q->q_reply, sizeof(q->q_reply), "%s:reply:%s",
	    cf->cf_queue_name, q->q_me);
	(void)strlcpy(q->q_lastreply, "0", sizeof(q->q_lastreply));
	for (i = 0; i < QUEUE_HASH; i++)
		LIST_INIT(&q->q_subs[i]);
	TAILQ_INIT(&q->q_order);
	TAILQ_INIT(&q->q_tosend);
	TAILQ_INIT(&q->q_entries);
	TAILQ_INIT(&q->q_acks);
	TAILQ_INIT(&q->q_answers);
	/* No figures for --status until Redis gives them. */
	q->q_depth = q->q_length = q->q_pending = q->q_deadlen = -1;
	/* Without a timeout, a live broker may hold a job this long. */
	q->q_claimms = cf->cf_job_timeout > 0 ?
	    (cf->cf_job_timeout + cf->cf_grace) * 1000LL + 2000 : 60000;
	for (i = 0; i < QUEUE_NCONN; i++) {
		q->q_conn[i].qc_q = q;
		q->q_conn[i].qc_role = i;
	}
	/* Without workers, no jobs to read; a sentinel is asked apart. */
	q->q_conn[QC_JOBS].qc_off = cf->cf_workers == 0;
	q->q_conn[QC_SENTINEL].qc_off = 1;
	queue_connect(q);
	return q;
}
