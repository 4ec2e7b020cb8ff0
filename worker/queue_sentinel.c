/*
 * Redis Sentinel (--queue redis-sentinel://...): the broker asks the
 * sentinels, in turn, where the master is, connects there, and checks
 * that ROLE says master.  After every disconnection, and whenever Redis
 * answers -READONLY or -MASTERDOWN, it forgets the address and asks
 * again after the connection's back-off: a failover moves the master.
 *
 * One sentinel is asked at a time, on the connection slot QC_SENTINEL,
 * which the broker's poll() drives like the others; each has a second to
 * answer.  The sentinel that answered is asked first the next time.  A
 * round in which none gives an address is logged once and tried again
 * after a back-off, from 100 ms doubling up to 5 s, as a connection is.
 *
 * Redis replicates asynchronously: a job the old master acknowledged may
 * not have reached the replica that takes its place.  So in this mode a
 * submitting broker keeps each job until its answer comes, and when the
 * master has moved it sends every job still unanswered again and reads
 * its reply stream from the start.  A job in flight during a failover may
 * therefore run twice; its submitter takes the first answer and drops the
 * other, as it does for a job claimed from a slow host.  WAIT would make
 * every submission wait for a replica (a WAIT 1 after each 64 XADDs made
 * 100,000 of them take 3.7 times as long here) and, with several
 * replicas, still not know that the one promoted has them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "queue.h"
#include "util.h"

#define SENTINEL_MAX		16
#define SENTINEL_PORT		26379
#define SENTINEL_ASK_MS		1000	/* a sentinel's time to answer */
#define SENTINEL_BACKOFF_MS	100
#define SENTINEL_MAXBACK_MS	5000

struct qsaddr {
	char		*a_host;
	int		 a_port;
};

struct qsentinel {
	struct qsaddr	 s_addr[SENTINEL_MAX];
	int		 s_n;
	char		 s_master[128];
	const char	*s_auth;	/* the sentinels' password, or NULL */
	char		*s_last;	/* the master's host, last said */
	int		 s_lastport;
	int		 s_next;	/* the sentinel asked next */
	int		 s_asked;	/* asked in this round */
	int		 s_unknown;	/* of those, knew no such master */
	int		 s_asking;	/* a question is out */
	char		 s_err[192];	/* the last one's failure */
	struct timespec	 s_until;	/* the question's deadline */
	struct timespec	 s_retry;	/* no question before */
	int		 s_backoff;	/* ms, after a round in vain */
	int		 s_said;	/* SAID_*: once, until a master */
};
#define SAID_READONLY	0x1
#define SAID_ROLE	0x2

/* A command, and what the data connection meant it for. */
struct qswrap {
	redisCallbackFn	*w_fn;
	void		*w_priv;
};

static int
sparse_err(char *err, size_t len, const char *why, const char *what)
{
	(void)snprintf(err, len, why, what);
	return -1;
}

/* host, host:port, [v6] or [v6]:port; p is modified. */
static int
sparse_addr(struct qsaddr *a, char *p, char *err, size_t len)
{
	const char	*errstr;
	char		*colon;

	a->a_port = SENTINEL_PORT;
	if (*p == '\0')
		return sparse_err(err, len, "an empty sentinel address%s", "");
	if (*p == '[') {
		if ((colon = strchr(p, ']')) == NULL)
			return sparse_err(err, len, "no ] after the address "
			    "%s", p);
		*colon = '\0';
		p++;
		colon = colon[1] == ':' ? colon + 1 : NULL;
	} else if ((colon = strchr(p, ':')) != NULL)
		*colon = '\0';
	if (colon != NULL) {
		a->a_port = strtonum(colon + 1, 1, 65535, &errstr);
		if (errstr != NULL)
			return sparse_err(err, len, "the port of sentinel %s "
			    "is not 1 to 65535", p);
	}
	if (*p == '\0')
		return sparse_err(err, len, "an empty sentinel address%s", "");
	if ((a->a_host = strdup(p)) == NULL)
		return sparse_err(err, len, "out of memory%s", "");
	return 0;
}

static void
sentinel_free(struct qsentinel *s)
{
	int	 i;

	for (i = 0; i < s->s_n; i++)
		free(s->s_addr[i].a_host);
	free(s->s_last);
	free(s);
}

/* The list of sentinels and the master's name, between // and [/db]. */
static int
sparse_list(struct qsentinel *s, char *list, const char *master, char *err,
    size_t len)
{
	char		*p, *comma;
	size_t		 i;

	if (*master == '\0')
		return sparse_err(err, len, "no /master after the "
		    "sentinels%s", "");
	for (i = 0; master[i] != '\0'; i++)
		if (!isgraph((unsigned char)master[i]))
			return sparse_err(err, len, "the master's name %s is "
			    "not printable", master);
	if (strlcpy(s->s_master, master, sizeof(s->s_master)) >=
	    sizeof(s->s_master))
		return sparse_err(err, len, "the master's name %s is too long",
		    master);
	for (p = list; p != NULL; p = comma) {
		if ((comma = strchr(p, ',')) != NULL)
			*comma++ = '\0';
		if (s->s_n == SENTINEL_MAX)
			return sparse_err(err, len, "more than 16 sentinels%s",
			    "");
		if (sparse_addr(&s->s_addr[s->s_n], p, err, len) == -1)
			return -1;
		s->s_n++;
	}
	return 0;
}

/*
 * redis-sentinel://[user:password@]host[:port][,host[:port]...]/MASTER[/db]:
 * the user and password are the master's; the sentinels' own password
 * is queue_sentinel_password in slua.conf.  Fills q's user, password and
 * database; q may be NULL to check the form only.
 */
int
queue_sentinel_parse(struct queue *q, const char *url, char *err,
    size_t len)
{
	struct qsentinel	*s;
	const char		*errstr;
	char			 buf[1024], *p, *at, *slash, *db, *colon;
	char			*user = NULL, *pass = NULL;
	int			 ndb = 0;

	if (strlcpy(buf, url + strlen("redis-sentinel://"), sizeof(buf)) >=
	    sizeof(buf))
		return sparse_err(err, len, "too long%s", "");
	if ((slash = strchr(buf, '/')) == NULL)
		return sparse_err(err, len, "no /master after the "
		    "sentinels%s", "");
	*slash++ = '\0';
	if ((db = strchr(slash, '/')) != NULL) {
		*db++ = '\0';
		ndb = strtonum(db, 0, 1000, &errstr);
		if (errstr != NULL || *db == '\0')
			return sparse_err(err, len, "the database number is "
			    "not 0 to 1000%s", "");
	}
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return sparse_err(err, len, "out of memory%s", "");
	p = buf;
	if ((at = strrchr(p, '@')) != NULL) {
		*at = '\0';
		if ((colon = strchr(p, ':')) != NULL) {
			*colon = '\0';
			pass = strdup(colon + 1);
			if (*p != '\0')
				user = strdup(p);
		} else
			pass = strdup(p);
		p = at + 1;
	}
	if (sparse_list(s, p, slash, err, len) == -1) {
		sentinel_free(s);
		free(user);
		free(pass);
		return -1;
	}
	if (q == NULL) {
		sentinel_free(s);
		free(user);
		free(pass);
		return 0;
	}
	q->q_sentinel = s;
	q->q_user = user;
	q->q_pass = pass;
	q->q_db = ndb;
	s->s_auth = q->q_b->b_cf->cf_queue_sentinel_password;
	return 0;
}

/* ms until the sentinels have something to do, when no master is known. */
long long
queue_sentinel_retryin(struct queue *q)
{
	struct qsentinel	*s = q->q_sentinel;
	struct timespec		 now;
	long long		 ms;

	clock_now(&now);
	ms = clock_ms(&now, s->s_asking ? &s->s_until : &s->s_retry);
	return ms < 0 ? 0 : ms;
}

/* The round ends, in vain: said once, then a back-off. */
static void
sentinel_round(struct queue *q)
{
	struct qsentinel	*s = q->q_sentinel;

	if (s->s_backoff == 0) {
		if (s->s_unknown > 0)
			log_warnx("queue: no sentinel knows master %s",
			    s->s_master);
		else
			log_warnx("queue: no sentinel answered for master %s "
			    "(%s)", s->s_master, s->s_err);
	}
	s->s_asked = s->s_unknown = 0;
	s->s_backoff = s->s_backoff == 0 ? SENTINEL_BACKOFF_MS :
	    s->s_backoff * 2;
	if (s->s_backoff > SENTINEL_MAXBACK_MS)
		s->s_backoff = SENTINEL_MAXBACK_MS;
	clock_now(&s->s_retry);
	clock_add(&s->s_retry, s->s_backoff);
}

/* The question out failed: the next sentinel, or the round is over. */
static void
sentinel_failed(struct queue *q, const char *why)
{
	struct qsentinel	*s = q->q_sentinel;
	struct qsaddr		*a = &s->s_addr[s->s_next];

	if (!s->s_asking)
		return;
	s->s_asking = 0;
	(void)snprintf(s->s_err, sizeof(s->s_err), "%s:%d: %s", a->a_host,
	    a->a_port, why);
	s->s_next = (s->s_next + 1) % s->s_n;
	if (++s->s_asked >= s->s_n) {
		sentinel_round(q);
		return;
	}
	clock_now(&s->s_retry);
}

/*
 * The master moved: what the old one acknowledged may be lost, so every
 * job still unanswered goes again (queue_resend, once the command
 * connection is up) and the reply stream is read from its start.
 */
static void
sentinel_moved(struct queue *q)
{
	struct qsub	*sub;
	int		 n = 0;

	TAILQ_FOREACH(sub, &q->q_order, s_entry) {
		if (!sub->s_acked || sub->s_data == NULL)
			continue;
		sub->s_acked = 0;
		q->q_unacked++;
		n++;
	}
	(void)strlcpy(q->q_lastreply, "0", sizeof(q->q_lastreply));
	q->q_grouped = 0;
	if (n > 0)
		log_info("queue: %d jobs not yet answered go to the new "
		    "master again", n);
}

/* A sentinel said where the master is. */
static void
sentinel_adopt(struct queue *q, const char *host, int port)
{
	struct qsentinel	*s = q->q_sentinel;
	char			*h;

	if ((h = strdup(host)) == NULL)
		fatal("queue");
	s->s_asking = 0;
	s->s_asked = s->s_unknown = s->s_backoff = 0;
	if (s->s_last == NULL)
		log_info("queue: master %s is at %s:%d", s->s_master, host,
		    port);
	else if (strcmp(s->s_last, host) != 0 || s->s_lastport != port) {
		log_info("queue: master %s moved to %s:%d", s->s_master, host,
		    port);
		queue_drop(q);		/* what is still on the old one */
		sentinel_moved(q);
	}
	free(s->s_last);
	s->s_last = h;
	s->s_lastport = port;
	free(q->q_host);
	if ((q->q_host = strdup(host)) == NULL)
		fatal("queue");
	q->q_port = port;
}

static void
sentinel_answer(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	const char	*errstr;
	char		 why[160];
	int		 port;

	(void)priv;
	if (!q->q_sentinel->s_asking)
		return;
	if (rp == NULL) {
		sentinel_failed(q, ac->errstr[0] ? ac->errstr :
		    "connection lost");
		return;
	}
	if (rp->type == REDIS_REPLY_ERROR)
		sentinel_failed(q, rp->str);
	else if (rp->type == REDIS_REPLY_NIL) {
		q->q_sentinel->s_unknown++;
		(void)snprintf(why, sizeof(why), "no master %s",
		    q->q_sentinel->s_master);
		sentinel_failed(q, why);
	} else if (rp->type != REDIS_REPLY_ARRAY || rp->elements != 2 ||
	    rp->element[0]->type != REDIS_REPLY_STRING ||
	    rp->element[1]->type != REDIS_REPLY_STRING)
		sentinel_failed(q, "not an address");
	else {
		port = strtonum(rp->element[1]->str, 1, 65535, &errstr);
		if (errstr != NULL)
			sentinel_failed(q, "not an address");
		else
			sentinel_adopt(q, rp->element[0]->str, port);
	}
	redisAsyncDisconnect(ac);
}

/* The sentinels' password: an error fails the question. */
static void
sentinel_authed(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;

	(void)priv;
	if (rp != NULL && rp->type == REDIS_REPLY_ERROR) {
		sentinel_failed(q, rp->str);
		redisAsyncDisconnect(ac);
	}
}

static void
sentinel_connected(const redisAsyncContext *ac, int status)
{
	struct qconn	*qc = ac->data;

	if (status == REDIS_OK)
		return;
	qc->qc_ac = NULL;	/* hiredis frees it */
	qc->qc_rd = qc->qc_wr = 0;
	sentinel_failed(qc->qc_q, ac->errstr);
}

static void
sentinel_closed(const redisAsyncContext *ac, int status)
{
	struct qconn	*qc = ac->data;

	(void)status;
	qc->qc_ac = NULL;
	qc->qc_rd = qc->qc_wr = 0;
	sentinel_failed(qc->qc_q, ac->errstr[0] ? ac->errstr :
	    "connection lost");
}

static void
sentinel_open(struct queue *q)
{
	struct qsentinel	*s = q->q_sentinel;
	struct qconn		*qc = &q->q_conn[QC_SENTINEL];
	struct qsaddr		*a = &s->s_addr[s->s_next];
	redisAsyncContext	*ac;
	const char		*argv[3];

	s->s_asking = 1;
	clock_now(&s->s_until);
	clock_add(&s->s_until, SENTINEL_ASK_MS);
	if ((ac = redisAsyncConnect(a->a_host, a->a_port)) == NULL) {
		sentinel_failed(q, "out of memory");
		return;
	}
	if (ac->err) {
		sentinel_failed(q, ac->errstr);
		redisAsyncFree(ac);
		return;
	}
	queue_attach(qc, ac);
	(void)redisAsyncSetConnectCallback(ac, sentinel_connected);
	(void)redisAsyncSetDisconnectCallback(ac, sentinel_closed);
	if (s->s_auth != NULL) {
		argv[0] = "AUTH";
		argv[1] = s->s_auth;
		(void)redisAsyncCommandArgv(ac, sentinel_authed, NULL, 2, argv,
		    NULL);
	}
	argv[0] = "SENTINEL";
	argv[1] = "get-master-addr-by-name";
	argv[2] = s->s_master;
	(void)redisAsyncCommandArgv(ac, sentinel_answer, NULL, 3, argv, NULL);
}

/*
 * A question that had its second is given up; with no master known and
 * a connection wanting one (want), the next question goes when due.
 */
void
queue_sentinel_ask(struct queue *q, int want)
{
	struct qsentinel	*s = q->q_sentinel;
	struct qconn		*qc = &q->q_conn[QC_SENTINEL];
	redisAsyncContext	*ac;
	struct timespec		 now;

	clock_now(&now);
	if (s->s_asking && timespeccmp(&now, &s->s_until, >=)) {
		sentinel_failed(q, "no answer within a second");
		if ((ac = qc->qc_ac) != NULL) {
			qc->qc_ac = NULL;
			redisAsyncFree(ac);
		}
	}
	if (!want || q->q_host != NULL || s->s_asking || qc->qc_ac != NULL ||
	    timespeccmp(&now, &s->s_retry, <))
		return;
	sentinel_open(q);
}

/*
 * The master is in doubt: ask again before the next connection.  With
 * drop, what is still connected goes too (it may be a replica now).
 */
void
queue_sentinel_lost(struct queue *q, int drop)
{
	struct qconn	*qc;
	int		 i;

	free(q->q_host);
	q->q_host = NULL;
	if (!drop)
		return;
	for (i = 0; i < QC_SENTINEL; i++) {
		qc = &q->q_conn[i];
		if (qc->qc_ac != NULL &&
		    !(qc->qc_ac->c.flags & REDIS_DISCONNECTING))
			redisAsyncDisconnect(qc->qc_ac);
	}
}

/* ROLE must say master; anything else is asked about again. */
static void
sentinel_role(redisAsyncContext *ac, void *r, void *priv)
{
	struct qconn	*qc = ac->data;
	struct queue	*q = qc->qc_q;
	redisReply	*rp = r;
	const char	*role = "no role";

	(void)priv;
	if (rp == NULL)
		return;
	if (rp->type == REDIS_REPLY_ARRAY && rp->elements > 0 &&
	    rp->element[0]->type == REDIS_REPLY_STRING) {
		if (strcmp(rp->element[0]->str, "master") == 0) {
			q->q_sentinel->s_said = 0;
			return;
		}
		role = rp->element[0]->str;
	} else if (rp->type == REDIS_REPLY_ERROR)
		role = rp->str;
	if (q->q_host != NULL && !(q->q_sentinel->s_said & SAID_ROLE)) {
		log_warnx("queue: %s:%d is not master %s (%s): asking the "
		    "sentinels again", q->q_host, q->q_port,
		    q->q_sentinel->s_master, role);
		q->q_sentinel->s_said |= SAID_ROLE;
	}
	queue_sentinel_lost(q, 0);
	redisAsyncDisconnect(ac);
}

/* Before a data connection's PING: its ROLE. */
void
queue_sentinel_hello(struct queue *q, redisAsyncContext *ac)
{
	const char	*argv[1] = { "ROLE" };

	(void)q;
	(void)redisAsyncCommandArgv(ac, sentinel_role, NULL, 1, argv, NULL);
}

/*
 * Every reply in this mode is looked at first: -READONLY and -MASTERDOWN
 * say the master has changed, and count, for whoever sent the command,
 * as a lost connection (a job is sent again, an answer waits).
 */
static void
sentinel_checked(redisAsyncContext *ac, void *r, void *priv)
{
	struct qconn	*qc = ac->data;
	struct qswrap	 w = *(struct qswrap *)priv;
	redisReply	*rp = r;

	free(priv);
	if (rp != NULL && rp->type == REDIS_REPLY_ERROR &&
	    (strncmp(rp->str, "READONLY", 8) == 0 ||
	    strncmp(rp->str, "MASTERDOWN", 10) == 0)) {
		if (!(qc->qc_q->q_sentinel->s_said & SAID_READONLY)) {
			log_warnx("queue: %s: asking the sentinels again",
			    rp->str);
			qc->qc_q->q_sentinel->s_said |= SAID_READONLY;
		}
		queue_sentinel_lost(qc->qc_q, 1);
		r = NULL;
	}
	if (w.w_fn != NULL)
		w.w_fn(ac, r, w.w_priv);
}

int
queue_sentinel_cmd(struct qconn *qc, redisCallbackFn *fn, void *priv,
    const char *cmd, size_t len)
{
	struct qswrap	*w;

	if ((w = malloc(sizeof(*w))) == NULL)
		return -1;
	w->w_fn = fn;
	w->w_priv = priv;
	if (redisAsyncFormattedCommand(qc->qc_ac, sentinel_checked, w, cmd,
	    len) != REDIS_OK) {
		free(w);
		return -1;
	}
	return 0;
}
