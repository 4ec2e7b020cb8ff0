/*
 * A job's life on the shared queue (--queue; slua(1), SHARED QUEUE, tells
 * the same), on the side of the brokers with workers; the submitting
 * side is in worker/queue_submit.c.  Keys, with NAME from --queue-name:
 *
 *	NAME:jobs	the stream of jobs; consumer group NAME
 *	NAME:reply:ME	a submitting broker's answers (ME: host:pid:start)
 *	NAME:dead	jobs delivered twice without an answer
 *
 * Broker with workers: it reads as many entries as its workers can take
 * (XREADGROUP, COUNT), runs their jobs as local jobs (worker/job.c: retry
 * once, a job that kills two workers fails), and writes each answer to
 * the submitter's reply stream, acknowledging an entry once all its
 * answers are in (worker/queue_entry.c): never an ack without an answer.
 * An answer that cannot be written yet waits for the connection.  Every
 * quarter of the claim time it looks at the
 * pending entries of other consumers idle longer than the claim time
 * (job-timeout + grace + 2 s, or 60 s): one delivered once is claimed
 * and run here; one delivered twice goes to NAME:dead and fails at its
 * submitter.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "broker.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "util.h"

#define QUEUE_PREFETCH		32	/* entries held per worker, at most */
#define QUEUE_READMAX		512	/* entries a read takes */
#define QUEUE_READBUF		(1024 * 1024)	/* kept for replies */

/*
 * Jobs read (priv NULL), or, after a reconnection (priv not NULL), the
 * entries Redis delivered here but not yet acknowledged: a read whose
 * reply was lost with the connection, or answers Redis lost in a restart.
 */
static void
queue_readjobs(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r, *st, *e;
	size_t		 i, k;

	q->q_conn[QC_JOBS].qc_reading = 0;
	if (rp == NULL)
		return;
	if (rp->type == REDIS_REPLY_ERROR) {
		/* NOGROUP: the stream was deleted, or Redis lost it. */
		log_warnx("queue: %s", rp->str);
		q->q_grouped = 0;
		redisAsyncDisconnect(ac);	/* again after a back-off */
		return;
	}
	if (priv != NULL)
		q->q_recover = 0;
	if (rp->type != REDIS_REPLY_ARRAY) {
		if (priv == NULL)	/* nothing waited */
			q->q_drained = q->q_nheld;
		return;
	}
	for (i = 0; i < rp->elements; i++) {
		st = rp->element[i];
		if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
		    st->element[1]->type != REDIS_REPLY_ARRAY)
			continue;
		for (k = 0; k < st->element[1]->elements; k++) {
			e = st->element[1]->element[k];
			if (priv != NULL && queue_holds(q, e))
				continue;
			queue_take(q, e, 1);
		}
	}
}

static void
queue_grouped(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;

	(void)priv;
	q->q_grouping = 0;
	if (rp == NULL)
		return;
	if (rp->type == REDIS_REPLY_ERROR &&
	    strncmp(rp->str, "BUSYGROUP", 9) != 0) {
		log_warnx("queue: %s", rp->str);
		return;
	}
	q->q_grouped = 1;
}

/* A connection is up: what waited for it goes now. */
void
queue_hello(struct queue *q, int role)
{
	/* hiredis frees its read buffer, once read, past 16 KiB, and a
	   batch's replies are often larger: keep it. */
	q->q_conn[role].qc_ac->c.reader->maxbuf = QUEUE_READBUF;
	/* A read's reply may have gone with either connection. */
	if (role != QC_REPLY)
		q->q_recover = 1;
	if (role != QC_CMD)
		return;
	queue_resend(q);
	queue_flush(q);
}

static void
queue_claimed(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	size_t		 i;

	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < rp->elements; i++)
		queue_take(q, rp->element[i], (intptr_t)priv);
}

/* Pending entries of others, idle past the claim time: claim each. */
static void
queue_pending(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r, *e;
	const char	*argv[6];
	char		 idle[24];
	size_t		 i;
	int		 n = 0;

	(void)priv;
	q->q_claiming = 0;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY)
		return;
	(void)snprintf(idle, sizeof(idle), "%lld", q->q_claimms);
	for (i = 0; i < rp->elements; i++) {
		e = rp->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
		    e->element[0]->type != REDIS_REPLY_STRING ||
		    e->element[1]->type != REDIS_REPLY_STRING ||
		    e->element[3]->type != REDIS_REPLY_INTEGER ||
		    strcmp(e->element[1]->str, q->q_me) == 0)
			continue;
		if (n++ == 0)
			log_info("queue: claiming jobs of %s, idle %lld ms",
			    e->element[1]->str, e->element[2]->integer);
		argv[0] = "XCLAIM";
		argv[1] = q->q_jobs;
		argv[2] = q->q_group;
		argv[3] = q->q_me;
		argv[4] = idle;
		argv[5] = e->element[0]->str;
		/* The count so far: a second delivery is the last. */
		(void)queue_cmd(q, QC_CMD, queue_claimed,
		    (void *)(intptr_t)e->element[3]->integer, 6, argv, NULL);
	}
}

static void
queue_claim(struct queue *q, const struct timespec *now)
{
	const char	*argv[8];
	char		 idle[24];
	long long	 every;

	if (timespeccmp(now, &q->q_claimat, <) || q->q_claiming ||
	    !q->q_grouped)
		return;
	(void)snprintf(idle, sizeof(idle), "%lld", q->q_claimms);
	argv[0] = "XPENDING";
	argv[1] = q->q_jobs;
	argv[2] = q->q_group;
	argv[3] = "IDLE";
	argv[4] = idle;
	argv[5] = "-";
	argv[6] = "+";
	argv[7] = "64";
	if (queue_cmd(q, QC_CMD, queue_pending, NULL, 8, argv, NULL) == 0)
		q->q_claiming = 1;
	every = q->q_claimms / 4 < 250 ? 250 : q->q_claimms / 4;
	q->q_claimat = *now;
	clock_add(&q->q_claimat, every);
}

/* A worker would wait for jobs: a read may block until one comes. */
static int
queue_starved(struct queue *q)
{
	struct broker	*b = q->q_b;

	return q->q_nheld == 0 || b->b_nidle > b->b_nqueued;
}

/*
 * How many jobs a broker holds per worker: about QUEUE_HOLD_NS of work
 * at the jobs' average run time, so that short jobs come in batches while
 * long ones are left to other hosts' idle workers; 2 to QUEUE_PREFETCH,
 * 2 until a job has run.
 */
static int
queue_perworker(struct queue *q)
{
	long long	 ns = q->q_b->b_jobns;

	if (ns <= 0 || ns >= QUEUE_HOLD_NS / 2)
		return 2;
	return QUEUE_HOLD_NS / ns >= QUEUE_PREFETCH ? QUEUE_PREFETCH :
	    (int)(QUEUE_HOLD_NS / ns);
}

/*
 * A read's size: what the workers can take, with prefetch; -1: no read
 * now.  A broker reads when what it holds falls to half of that, so that
 * reads are few and full.  Only a broker with a worker that would wait
 * blocks in the read (each XADD then wakes it with one entry); one whose
 * workers are all busy takes what waits, and when nothing did, reads
 * again once one of its jobs is done, the stream filling meanwhile.
 */
static int
queue_want(struct queue *q)
{
	int	 max = q->q_b->b_cf->cf_workers * queue_perworker(q);

	if (max > QUEUE_READMAX)
		max = QUEUE_READMAX;
	if (q->q_nheld > max / 2)
		return -1;
	if (!queue_starved(q) && q->q_drained > 0 &&
	    q->q_nheld >= q->q_drained)
		return -1;
	return max - q->q_nheld;
}

static void
queue_group(struct queue *q)
{
	const char	*argv[6] = { "XGROUP", "CREATE", q->q_jobs, q->q_group,
			    "0", "MKSTREAM" };

	if (q->q_grouping)
		return;
	if (queue_cmd(q, QC_JOBS, queue_grouped, NULL, 6, argv, NULL) == 0)
		q->q_grouping = 1;
}

/*
 * Reads that do not block go on the command connection, after the
 * answers written before them: one write and one reply a turn, and an
 * entry acknowledged there is not read again as pending.  A blocking
 * read holds a connection of its own.
 */
static void
queue_fetch(struct queue *q)
{
	struct broker	*b = q->q_b;
	const char	*argv[11] = { "XREADGROUP", "GROUP", q->q_group,
			    q->q_me, "COUNT", NULL, "STREAMS", q->q_jobs, ">",
			    NULL, NULL };
	const char	*pel[7] = { "XREADGROUP", "GROUP", q->q_group,
			    q->q_me, "STREAMS", q->q_jobs, "0" };
	char		 count[16];
	int		 want, argc = 9, role = QC_CMD;

	if (!queue_up(q, QC_JOBS) || !queue_up(q, QC_CMD) ||
	    q->q_conn[QC_JOBS].qc_reading || b->b_stopping)
		return;
	if (!q->q_grouped) {
		queue_group(q);
		return;
	}
	if (q->q_recover) {
		if (queue_cmd(q, QC_CMD, queue_readjobs, q, 7, pel,
		    NULL) == 0)
			q->q_conn[QC_JOBS].qc_reading = 1;
		return;
	}
	/* A broker on trial (a reload's, a daemon's first) takes no job
	   before a worker of it has started: one that cannot would hold
	   jobs until they are claimed, a delivery lost each. */
	if (b->b_broken || b->b_readyfd != -1 || (want = queue_want(q)) <= 0)
		return;
	/* Entries, some of several jobs: as many as hold that many. */
	if (q->q_perentry > 16)
		want = want * 16 / q->q_perentry;
	(void)snprintf(count, sizeof(count), "%d", want > 0 ? want : 1);
	argv[5] = count;
	if (queue_starved(q)) {
		memmove(&argv[8], &argv[6], 3 * sizeof(*argv));
		argv[6] = "BLOCK";
		argv[7] = QUEUE_BLOCK_MS;
		argc = 11;
		role = QC_JOBS;
	}
	q->q_drained = 0;
	if (queue_cmd(q, role, queue_readjobs, NULL, argc, argv, NULL) == 0)
		q->q_conn[QC_JOBS].qc_reading = 1;
}

/*
 * Once a second, atomically: trim the jobs stream below the oldest entry
 * not yet acknowledged (or past the last delivered, when none is: the
 * stream then holds only what waits), which is cheaper than an XDEL per
 * job; and say, for work.backlog() and --status: how many wait
 * undelivered (the group's lag, -1 when Redis cannot tell; without a
 * group, none was delivered), the stream's length after the trim, how
 * many were delivered and not yet acknowledged, and the dead letters.
 */
#define QUEUE_LOOK_LUA							\
	"local dead = redis.call('XLEN', KEYS[2]) "			\
	"if redis.call('EXISTS', KEYS[1]) == 0 then "			\
	"  return {0, 0, 0, dead} "					\
	"end "								\
	"local gs = redis.call('XINFO', 'GROUPS', KEYS[1]) "		\
	"for _, g in ipairs(gs) do "					\
	"  local f = {} "						\
	"  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end "		\
	"  if f['name'] == ARGV[1] then "				\
	"    local min, pend = f['last-delivered-id'], f['pending'] "	\
	"    local ms, sq = string.match(min, '^(%d+)-(%d+)$') "	\
	"    if pend == 0 and sq and #sq < 15 then "			\
	"      min = ms .. '-' .. string.format('%d', sq + 1) "		\
	"    elseif pend > 0 then "					\
	"      local p = redis.call('XPENDING', KEYS[1], ARGV[1]) "	\
	"      pend, min = p[1], p[2] "					\
	"    end "							\
	"    redis.call('XTRIM', KEYS[1], 'MINID', min) "		\
	"    local lag = -1 "						\
	"    if type(f['lag']) == 'number' then lag = f['lag'] end "	\
	"    return {lag, redis.call('XLEN', KEYS[1]), pend, dead} "	\
	"  end "							\
	"end "								\
	"local n = redis.call('XLEN', KEYS[1]) "			\
	"return {n, n, 0, dead}"

/* No figure until Redis says. */
static void
queue_unknown(struct queue *q)
{
	q->q_depth = q->q_length = q->q_pending = q->q_deadlen = -1;
}

static void
queue_looked(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	size_t		 i;

	(void)priv;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY || rp->elements != 4)
		return;
	for (i = 0; i < 4; i++)
		if (rp->element[i]->type != REDIS_REPLY_INTEGER)
			return;
	q->q_depth = rp->element[0]->integer;
	q->q_length = rp->element[1]->integer;
	q->q_pending = rp->element[2]->integer;
	q->q_deadlen = rp->element[3]->integer;
	if (q->q_depth < 0)
		return;
	/* Replies come in order: the jobs acknowledged before are in it. */
	q->q_lag = q->q_depth;
	q->q_addedsince = 0;
}

static void
queue_look(struct queue *q, const struct timespec *now)
{
	const char	*argv[6] = { "EVAL", QUEUE_LOOK_LUA, "2", q->q_jobs,
			    q->q_dead, q->q_group };

	/* Redis out of reach: what it said last is no longer known. */
	if (!queue_up(q, QC_CMD)) {
		queue_unknown(q);
		return;
	}
	if (timespeccmp(now, &q->q_statat, <))
		return;
	q->q_statat = *now;
	clock_add(&q->q_statat, 1000);
	(void)queue_cmd(q, QC_CMD, queue_looked, NULL, 6, argv, NULL);
}

/* For the broker's status report. */
void
queue_stats(struct broker *b, struct stats_broker *sb)
{
	struct queue	*q = b->b_shared;

	sb->b_qdepth = q->q_depth;
	sb->b_qlength = q->q_length;
	sb->b_qpending = q->q_pending;
	sb->b_qdead = q->q_deadlen;
}

/*
 * work.backlog(): the shared stream's waiting jobs as Redis last said,
 * those this broker added since, and those it holds.
 */
uint32_t
queue_backlog(struct broker *b)
{
	struct queue	*q = b->b_shared;
	long long	 n = q->q_lag + q->q_addedsince + q->q_unacked +
			    b->b_nqueued;

	return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

/* Once a turn of the broker's loop. */
void
queue_tick(struct broker *b)
{
	struct queue	*q = b->b_shared;
	struct timespec	 now;

	clock_now(&now);
	queue_connect(q);
	queue_submitter(q, &now);
	if (b->b_cf->cf_workers > 0) {
		queue_fetch(q);
		if (queue_up(q, QC_CMD))
			queue_claim(q, &now);
	}
	queue_look(q, &now);
	queue_flush(q);
	queue_write(q);
}

/* ms until queue_tick() has work without a socket's word, or -1. */
long long
queue_timeout(struct broker *b)
{
	struct queue	*q = b->b_shared;
	struct timespec	 now;
	long long	 ms, min;

	clock_now(&now);
	min = queue_retryin(q);
	if (q->q_nsubs > 0 && (ms = clock_ms(&now, &q->q_expiry)) < 1000 &&
	    (min == -1 || ms < min))
		min = ms < 0 ? 0 : ms;
	if (b->b_cf->cf_workers > 0 && (ms = clock_ms(&now,
	    &q->q_claimat)) >= 0 && (min == -1 || ms < min))
		min = ms;
	return min;
}

/* Jobs this broker still owes an outcome or Redis an answer. */
int
queue_busy(struct broker *b)
{
	struct queue	*q = b->b_shared;

	return q->q_nsubs + q->q_nanswers + q->q_nacks + q->q_nacking +
	    q->q_conn[QC_JOBS].qc_reading;
}
