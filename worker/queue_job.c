/*
 * A job's life on the shared queue (--queue; slua(1), SHARED QUEUE, tells
 * the same).  Keys, with NAME from --queue-name:
 *
 *	NAME:jobs	the stream of jobs; consumer group NAME
 *	NAME:reply:ME	a submitting broker's answers (ME: host:pid:start)
 *	NAME:dead	jobs delivered twice without an answer
 *
 * Submitting broker: a handler's job is XADDed with the broker's reply
 * stream and its own number for the job (seq); it counts against
 * max-jobs until Redis has acknowledged it, and is sent again after a
 * reconnection if it was not.  The broker reads its reply stream and
 * routes each answer to the handler by seq; an answer for a seq no
 * longer waiting (the job ran twice) is dropped, so the handler sees one
 * outcome.  A job fails "queue unavailable" when its deadline (job-timeout
 * plus grace plus a second; 60 s without a timeout) passes while Redis
 * has not acknowledged it or the broker is not connected.
 *
 * Broker with workers: it reads as many entries as its workers can take
 * (XREADGROUP, COUNT), runs them as local jobs (worker/job.c: retry once,
 * a job that kills two workers fails), and writes each answer to the
 * submitter's reply stream with its XACK in one MULTI/EXEC: never an
 * ack without an answer.  An answer that cannot be written yet waits for
 * the connection.  Every quarter of the claim time it looks at the
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
#include "util.h"

#define QUEUE_PREFETCH		16	/* entries held per worker */
#define QUEUE_READMAX		512	/* entries a read takes */
#define QUEUE_ANSBATCH		256	/* answers in one MULTI/EXEC */
#define QUEUE_TRIMEVERY		256	/* answers read between XTRIMs */
#define QUEUE_BLOCK_MS		"1000"	/* a blocking read's wait */
#define QUEUE_REPLY_TTL		"3600"	/* a dead submitter's answers */
#define QUEUE_REPLY_MAXLEN	"100000"
#define QUEUE_DEAD_MAXLEN	"10000"
#define QUEUE_WAIT_MS		60000	/* a job's deadline without timeout */
#define QUEUE_DEAD_MSG		"job failed: delivered twice without an " \
				"answer (its hosts died or stopped)"

static struct qsub *
qsub_find(struct queue *q, uint64_t seq)
{
	struct qsub	*s;

	LIST_FOREACH(s, &q->q_subs[seq % QUEUE_HASH], s_hash)
		if (s->s_seq == seq)
			return s;
	return NULL;
}

static void
qsub_free(struct queue *q, struct qsub *s)
{
	LIST_REMOVE(s, s_hash);
	TAILQ_REMOVE(&q->q_order, s, s_entry);
	q->q_nsubs--;
	if (!s->s_acked)
		q->q_unacked--;
	free(s->s_data);
	free(s);
}

/* To the handler that submitted it, as the local broker answers. */
static void
qsub_reply(struct broker *b, struct qsub *s, int type, int flags,
    const char *data, size_t len)
{
	struct ipc_hdr	 h = s->s_hdr;

	if (h.h_slot < (uint32_t)b->b_nslots) {
		h.h_type = type;
		h.h_flags = flags;
		if (ipc_out_add(&b->b_slots[h.h_slot].p_out, &h, data,
		    len) == -1)
			log_warn("answer to job %llu lost",
			    (unsigned long long)h.h_id);
	}
	b->b_done++;
	qsub_free(b->b_shared, s);
}

/* A field of a stream entry's [f1, v1, f2, v2 ...], or NULL. */
static const redisReply *
entry_field(const redisReply *fields, const char *name)
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

static void
qsub_xadded(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	struct qsub	*s;
	char		 msg[256];

	if ((s = qsub_find(q, (uintptr_t)priv)) == NULL)
		return;
	s->s_sent = 0;
	if (rp == NULL)
		return;		/* connection lost: sent again */
	if (rp->type == REDIS_REPLY_ERROR) {
		(void)snprintf(msg, sizeof(msg), "queue: %s", rp->str);
		log_warnx("%s", msg);
		qsub_reply(q->q_b, s, IPC_ERROR, 0, msg, strlen(msg));
		return;
	}
	s->s_acked = 1;
	q->q_unacked--;
	free(s->s_data);
	s->s_data = NULL;
}

static void
qsub_send(struct queue *q, struct qsub *s)
{
	char		 seq[24];
	const char	*argv[9] = { "XADD", q->q_jobs, "*", "r", q->q_reply,
			    "s", seq, "d", s->s_data };
	size_t		 len[9];
	int		 i;

	(void)snprintf(seq, sizeof(seq), "%" PRIu64, s->s_seq);
	for (i = 0; i < 8; i++)
		len[i] = strlen(argv[i]);
	len[8] = s->s_len;
	if (queue_cmd(q, QC_CMD, qsub_xadded, (void *)(uintptr_t)s->s_seq, 9,
	    argv, len) == 0)
		s->s_sent = 1;
}

/* A handler's job, to the shared queue. */
void
queue_submit(struct broker *b, const struct ipc_hdr *h,
    const struct ipc_msg *m)
{
	struct queue	*q = b->b_shared;
	struct config	*cf = b->b_cf;
	struct qsub	*s;
	const void	*p = m->m_data;

	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->s_data = malloc(m->m_len ? m->m_len : 1)) == NULL) {
		log_warn("job");
		free(s);
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		return;
	}
	if (m->m_fd != -1 && (p = ipc_memfd_map(m->m_fd, m->m_len)) == NULL)
		log_warn("job");
	if (p != NULL)
		memcpy(s->s_data, p, m->m_len);
	if (m->m_fd != -1) {
		if (p != NULL)
			ipc_memfd_unmap(p, m->m_len);
		(void)close(m->m_fd);
	}
	s->s_len = m->m_len;
	s->s_seq = ++q->q_seq;
	s->s_hdr = *h;
	clock_now(&s->s_deadline);
	clock_add(&s->s_deadline, cf->cf_job_timeout > 0 ?
	    (cf->cf_job_timeout + cf->cf_grace) * 1000LL + 1000 :
	    QUEUE_WAIT_MS);
	LIST_INSERT_HEAD(&q->q_subs[s->s_seq % QUEUE_HASH], s, s_hash);
	TAILQ_INSERT_TAIL(&q->q_order, s, s_entry);
	q->q_nsubs++;
	q->q_unacked++;
	if (p == NULL) {
		qsub_reply(b, s, IPC_ERROR, 0, "not enough memory", 17);
		return;
	}
	qsub_send(q, s);
}

/* Answers on this broker's reply stream: each to its handler, once. */
static void
queue_replies(struct queue *q, const redisReply *entries)
{
	const redisReply	*e, *seq, *kind, *data;
	struct qsub		*s;
	const char		*errstr;
	int			 type, flags;
	size_t			 i;

	for (i = 0; i < entries->elements; i++) {
		e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		(void)strlcpy(q->q_lastreply, e->element[0]->str,
		    sizeof(q->q_lastreply));
		q->q_untrimmed++;
		seq = entry_field(e->element[1], "s");
		kind = entry_field(e->element[1], "k");
		data = entry_field(e->element[1], "d");
		if (seq == NULL || kind == NULL || data == NULL)
			continue;
		s = qsub_find(q, strtonum(seq->str, 1, LLONG_MAX, &errstr));
		if (s == NULL) {	/* answered already: it ran twice */
			log_debug("queue: answer %s dropped: its job was "
			    "answered already", e->element[0]->str);
			continue;
		}
		type = kind->str[0] == 'e' ? IPC_ERROR : IPC_ANSWER;
		flags = kind->str[0] == 'n' ? IPC_F_NIL : 0;
		qsub_reply(q->q_b, s, type, flags, data->str, data->len);
	}
}

static void
queue_readreplies(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	const char	*argv[4];
	size_t		 i;

	(void)priv;
	q->q_conn[QC_REPLY].qc_reading = 0;
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY)
		return;
	for (i = 0; i < rp->elements; i++)
		if (rp->element[i]->type == REDIS_REPLY_ARRAY &&
		    rp->element[i]->elements == 2 &&
		    rp->element[i]->element[1]->type == REDIS_REPLY_ARRAY)
			queue_replies(q, rp->element[i]->element[1]);
	/* What was read goes, now and then: the stream stays short. */
	if (q->q_untrimmed < QUEUE_TRIMEVERY)
		return;
	q->q_untrimmed = 0;
	argv[0] = "XTRIM";
	argv[1] = q->q_reply;
	argv[2] = "MINID";
	argv[3] = q->q_lastreply;
	(void)queue_cmd(q, QC_CMD, NULL, NULL, 4, argv, NULL);
}

/* Answers written together, in one MULTI/EXEC. */
struct qbatch {
	struct qansq	 ab_list;
	int		 ab_n;
};

static void
qbatch_free(struct queue *q, struct qbatch *ab)
{
	struct qans	*a;

	while ((a = TAILQ_FIRST(&ab->ab_list)) != NULL) {
		TAILQ_REMOVE(&ab->ab_list, a, a_entry);
		q->q_nanswers--;
		free(a->a_reply);
		free(a->a_data);
		free(a->a_job);
		free(a);
	}
	free(ab);
}

/* The batch's answers go back to the head of the line. */
static void
qbatch_again(struct queue *q, struct qbatch *ab)
{
	struct qans	*a;

	while ((a = TAILQ_LAST(&ab->ab_list, qansq)) != NULL) {
		TAILQ_REMOVE(&ab->ab_list, a, a_entry);
		TAILQ_INSERT_HEAD(&q->q_answers, a, a_entry);
	}
	free(ab);
}

static void
queue_answerdone(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	struct qbatch	*ab = priv;

	/*
	 * Connection lost, or Redis refused (out of memory, read-only
	 * replica): again once it is back, after a reconnection's back-off.
	 */
	if (rp == NULL || rp->type != REDIS_REPLY_ARRAY) {
		if (rp != NULL) {
			log_warnx("queue: %d answers: %s", ab->ab_n,
			    rp->type == REDIS_REPLY_ERROR ? rp->str :
			    "aborted");
			redisAsyncDisconnect(ac);
		}
		qbatch_again(q, ab);
		return;
	}
	qbatch_free(q, ab);
}

/* XADD of an answer to its reply stream, or of a job to NAME:dead. */
static void
qans_add(struct queue *q, const struct qans *a, int dead)
{
	const char	*argv[12] = { "XADD", dead ? q->q_dead : a->a_reply,
			    "MAXLEN", "~", dead ? QUEUE_DEAD_MAXLEN :
			    QUEUE_REPLY_MAXLEN, "*", "s", a->a_seq,
			    dead ? "r" : "k", dead ? a->a_reply : a->a_kind,
			    "d", dead ? a->a_job : a->a_data };
	size_t		 len[12];
	int		 i;

	for (i = 0; i < 11; i++)
		len[i] = strlen(argv[i]);
	len[11] = dead ? a->a_joblen : a->a_len;
	(void)queue_cmd(q, QC_CMD, NULL, NULL, 12, argv, len);
}

/* XACK of the batch's entries. */
static void
qbatch_ids(struct queue *q, struct qbatch *ab, const char *cmd)
{
	const char	**argv;
	struct qans	*a;
	int		 n = 0;

	if ((argv = reallocarray(NULL, ab->ab_n + 3, sizeof(*argv))) ==
	    NULL)
		fatal("answers");
	argv[n++] = cmd;
	argv[n++] = q->q_jobs;
	argv[n++] = q->q_group;
	TAILQ_FOREACH(a, &ab->ab_list, a_entry)
		argv[n++] = a->a_id;
	(void)queue_cmd(q, QC_CMD, NULL, NULL, n, argv, NULL);
	free(argv);
}

/*
 * The answers waiting, QUEUE_ANSBATCH at a time: MULTI, each answer to
 * its reply stream (and a dead letter's job to NAME:dead), each reply
 * stream's expiry, one XACK of all their entries, EXEC.
 */
static void
qans_flush(struct queue *q)
{
	const char	*multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
	const char	*expire[3] = { "EXPIRE", NULL, QUEUE_REPLY_TTL };
	const char	*last = NULL;
	struct qbatch	*ab;
	struct qans	*a;

	while (!TAILQ_EMPTY(&q->q_answers) && queue_up(q, QC_CMD)) {
		if ((ab = calloc(1, sizeof(*ab))) == NULL)
			fatal("answers");
		TAILQ_INIT(&ab->ab_list);
		while (ab->ab_n < QUEUE_ANSBATCH &&
		    (a = TAILQ_FIRST(&q->q_answers)) != NULL) {
			TAILQ_REMOVE(&q->q_answers, a, a_entry);
			TAILQ_INSERT_TAIL(&ab->ab_list, a, a_entry);
			ab->ab_n++;
		}
		(void)queue_cmd(q, QC_CMD, NULL, NULL, 1, multi, NULL);
		TAILQ_FOREACH(a, &ab->ab_list, a_entry) {
			qans_add(q, a, 0);
			if (a->a_job != NULL)
				qans_add(q, a, 1);
		}
		last = NULL;
		TAILQ_FOREACH(a, &ab->ab_list, a_entry) {
			if (last != NULL && strcmp(last, a->a_reply) == 0)
				continue;
			expire[1] = last = a->a_reply;
			(void)queue_cmd(q, QC_CMD, NULL, NULL, 3, expire,
			    NULL);
		}
		qbatch_ids(q, ab, "XACK");
		if (queue_cmd(q, QC_CMD, queue_answerdone, ab, 1, exec,
		    NULL) == -1) {
			qbatch_again(q, ab);
			return;
		}
	}
}

static struct qans *
qans_new(const char *id, const char *seq, const char *reply, int kind,
    const char *data, size_t len)
{
	struct qans	*a;

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->a_reply = strdup(reply)) == NULL ||
	    (a->a_data = malloc(len ? len : 1)) == NULL) {
		log_warn("answer");
		if (a != NULL)
			free(a->a_reply);
		free(a);
		return NULL;
	}
	(void)strlcpy(a->a_id, id, sizeof(a->a_id));
	(void)strlcpy(a->a_seq, seq, sizeof(a->a_seq));
	a->a_kind[0] = kind;
	if (data != NULL)
		memcpy(a->a_data, data, len);
	a->a_len = len;
	return a;
}

/* Written by the next qans_flush(), with the others of this turn. */
static void
qans_queue(struct queue *q, struct qans *a)
{
	q->q_nanswers++;
	TAILQ_INSERT_TAIL(&q->q_answers, a, a_entry);
}

/* A job from the shared queue is answered, or failed, here. */
void
queue_answer(struct broker *b, struct job *j, int type, int flags,
    const struct ipc_msg *m)
{
	struct rjob	*rj = j->j_rq;
	struct qans	*a;
	const void	*p = m->m_data;
	int		 kind;

	kind = type == IPC_ERROR ? 'e' : (flags & IPC_F_NIL) ? 'n' : 'a';
	if (m->m_fd != -1 && (p = ipc_memfd_map(m->m_fd, m->m_len)) == NULL) {
		log_warn("answer");
		kind = 'e';
	}
	if (p == NULL)
		a = qans_new(rj->r_id, rj->r_seq, rj->r_reply, 'e',
		    "not enough memory", 17);
	else
		a = qans_new(rj->r_id, rj->r_seq, rj->r_reply, kind, p,
		    m->m_len);
	if (m->m_fd != -1) {
		if (p != NULL)
			ipc_memfd_unmap(p, m->m_len);
		(void)close(m->m_fd);
	}
	if (a != NULL)
		qans_queue(b->b_shared, a);
}

void
queue_rjobfree(struct rjob *rj)
{
	struct queue	*q = rj->r_q;

	TAILQ_REMOVE(&q->q_held, rj, r_entry);
	q->q_nheld--;
	free(rj);
}

/* An entry read or claimed becomes a local job. */
static void
queue_take(struct queue *q, const redisReply *e, long long deliveries)
{
	struct broker		*b = q->q_b;
	const redisReply	*reply, *seq, *data;
	struct ipc_hdr		 h;
	struct ipc_msg		 m;
	struct rjob		*rj;
	struct qans		*a;
	struct job		*j;
	size_t			 rlen;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING ||
	    e->element[1]->type != REDIS_REPLY_ARRAY)
		return;		/* gone since: answered */
	reply = entry_field(e->element[1], "r");
	seq = entry_field(e->element[1], "s");
	data = entry_field(e->element[1], "d");
	if (reply == NULL || seq == NULL || data == NULL ||
	    e->element[0]->len >= sizeof(rj->r_id) ||
	    seq->len >= sizeof(rj->r_seq)) {
		log_warnx("queue: entry %s is no job", e->element[0]->str);
		return;
	}
	if (deliveries >= 2) {
		log_warnx("queue: job %s delivered twice without an answer: "
		    "to %s", e->element[0]->str, q->q_dead);
		a = qans_new(e->element[0]->str, seq->str, reply->str, 'e',
		    QUEUE_DEAD_MSG, strlen(QUEUE_DEAD_MSG));
		if (a == NULL)
			return;
		if ((a->a_job = malloc(data->len ? data->len : 1)) != NULL) {
			memcpy(a->a_job, data->str, data->len);
			a->a_joblen = data->len;
		}
		qans_queue(q, a);
		return;
	}
	rlen = strlen(reply->str);
	if ((rj = malloc(sizeof(*rj) + rlen + 1)) == NULL) {
		log_warn("job");
		return;
	}
	(void)strlcpy(rj->r_id, e->element[0]->str, sizeof(rj->r_id));
	(void)strlcpy(rj->r_seq, seq->str, sizeof(rj->r_seq));
	memcpy(rj->r_reply, reply->str, rlen + 1);
	rj->r_q = q;
	memset(&h, 0, sizeof(h));
	h.h_type = IPC_JOB;
	h.h_slot = UINT32_MAX;		/* no handler of ours */
	h.h_id = ++q->q_localid;
	m.m_hdr = h;
	m.m_data = data->str;
	m.m_len = data->len;
	m.m_fd = -1;
	if ((j = job_new(&h, &m)) == NULL) {
		free(rj);
		return;
	}
	j->j_rq = rj;
	TAILQ_INSERT_TAIL(&q->q_held, rj, r_entry);
	q->q_nheld++;
	job_enqueue(b, j, 0);
}

/* Entry e is one of the jobs held here. */
static int
queue_holds(struct queue *q, const redisReply *e)
{
	struct rjob	*rj;

	if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
	    e->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	TAILQ_FOREACH(rj, &q->q_held, r_entry)
		if (strcmp(rj->r_id, e->element[0]->str) == 0)
			return 1;
	return 0;
}

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
	if (rp->type != REDIS_REPLY_ARRAY)
		return;
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
	struct qsub	*s;

	if (role == QC_JOBS)
		q->q_recover = 1;
	if (role != QC_CMD)
		return;
	TAILQ_FOREACH(s, &q->q_order, s_entry)
		if (!s->s_acked && !s->s_sent)
			qsub_send(q, s);
	qans_flush(q);
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

/* As many entries as the workers can take, with prefetch. */
static void
queue_fetch(struct queue *q)
{
	struct broker	*b = q->q_b;
	struct qconn	*qc = &q->q_conn[QC_JOBS];
	const char	*argv[10];
	char		 count[16];
	int		 want;

	if (!qc->qc_up || qc->qc_reading || b->b_stopping)
		return;
	if (!q->q_grouped) {
		if (q->q_grouping)
			return;
		argv[0] = "XGROUP";
		argv[1] = "CREATE";
		argv[2] = q->q_jobs;
		argv[3] = q->q_group;
		argv[4] = "0";
		argv[5] = "MKSTREAM";
		if (queue_cmd(q, QC_JOBS, queue_grouped, NULL, 6, argv,
		    NULL) == 0)
			q->q_grouping = 1;
		return;
	}
	if (q->q_recover) {
		const char	*pel[7] = { "XREADGROUP", "GROUP", q->q_group,
				    q->q_me, "STREAMS", q->q_jobs, "0" };

		if (queue_cmd(q, QC_JOBS, queue_readjobs, q, 7, pel,
		    NULL) == 0)
			qc->qc_reading = 1;
		return;
	}
	want = b->b_cf->cf_workers * QUEUE_PREFETCH - q->q_nheld;
	if (want <= 0 || b->b_broken)
		return;
	if (want > QUEUE_READMAX)
		want = QUEUE_READMAX;
	(void)snprintf(count, sizeof(count), "%d", want);
	argv[0] = "XREADGROUP";
	argv[1] = "GROUP";
	argv[2] = q->q_group;
	argv[3] = q->q_me;
	argv[4] = "COUNT";
	argv[5] = count;
	argv[6] = "BLOCK";
	argv[7] = QUEUE_BLOCK_MS;
	argv[8] = "STREAMS";
	argv[9] = q->q_jobs;
	{
		const char	*full[11];

		memcpy(full, argv, sizeof(argv));
		full[10] = ">";
		if (queue_cmd(q, QC_JOBS, queue_readjobs, NULL, 11, full,
		    NULL) == 0)
			qc->qc_reading = 1;
	}
}

static void
queue_listen(struct queue *q)
{
	struct qconn	*qc = &q->q_conn[QC_REPLY];
	const char	*argv[8] = { "XREAD", "COUNT", "512", "BLOCK",
			    QUEUE_BLOCK_MS, "STREAMS", q->q_reply,
			    q->q_lastreply };

	if (!qc->qc_up || qc->qc_reading)
		return;
	if (queue_cmd(q, QC_REPLY, queue_readreplies, NULL, 8, argv,
	    NULL) == 0)
		qc->qc_reading = 1;
}

/* Jobs past their deadline while Redis cannot be counted on fail. */
static void
queue_expire(struct queue *q, const struct timespec *now)
{
	struct qsub	*s, *next;
	int		 up = queue_up(q, QC_CMD);

	if (timespeccmp(now, &q->q_expiry, <))
		return;
	q->q_expiry = *now;
	clock_add(&q->q_expiry, 100);
	for (s = TAILQ_FIRST(&q->q_order); s != NULL; s = next) {
		next = TAILQ_NEXT(s, s_entry);
		if (timespeccmp(now, &s->s_deadline, <))
			break;
		if (s->s_acked && up)
			continue;
		qsub_reply(q->q_b, s, IPC_ERROR, 0, "queue unavailable", 17);
	}
}

/*
 * Once a second, atomically: trim the jobs stream below the oldest entry
 * not yet acknowledged (or the last delivered), which is cheaper than an
 * XDEL per job; say how many wait undelivered (the group's lag, -1 when
 * Redis cannot tell).
 */
#define QUEUE_TRIM_LUA							\
	"local gs = redis.call('XINFO', 'GROUPS', KEYS[1]) "		\
	"for _, g in ipairs(gs) do "					\
	"  local f = {} "						\
	"  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end "		\
	"  if f['name'] == ARGV[1] then "				\
	"    local min = f['last-delivered-id'] "			\
	"    if f['pending'] > 0 then "					\
	"      min = redis.call('XPENDING', KEYS[1], ARGV[1])[2] "	\
	"    end "							\
	"    redis.call('XTRIM', KEYS[1], 'MINID', min) "		\
	"    if type(f['lag']) == 'number' then return f['lag'] end "	\
	"    return -1 "						\
	"  end "							\
	"end "								\
	"return -1"

static void
queue_trimmed(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;

	(void)priv;
	if (rp != NULL && rp->type == REDIS_REPLY_INTEGER &&
	    rp->integer >= 0)
		q->q_lag = rp->integer;
}

static void
queue_look(struct queue *q, const struct timespec *now)
{
	const char	*argv[5] = { "EVAL", QUEUE_TRIM_LUA, "1", q->q_jobs,
			    q->q_group };

	if (timespeccmp(now, &q->q_statat, <) || !queue_up(q, QC_CMD) ||
	    !q->q_grouped)
		return;
	q->q_statat = *now;
	clock_add(&q->q_statat, 1000);
	(void)queue_cmd(q, QC_CMD, queue_trimmed, NULL, 5, argv, NULL);
}

/* work.backlog(): the shared stream's waiting jobs, and ours. */
uint32_t
queue_backlog(struct broker *b)
{
	long long	 n = b->b_shared->q_lag + b->b_nqueued +
			    b->b_shared->q_unacked;

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
	queue_listen(q);
	if (b->b_cf->cf_workers > 0) {
		queue_fetch(q);
		if (queue_up(q, QC_CMD))
			queue_claim(q, &now);
	}
	if (q->q_nsubs > 0)
		queue_expire(q, &now);
	queue_look(q, &now);
	qans_flush(q);
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

/* Handlers' jobs Redis has not taken yet count against max-jobs. */
int
queue_full(struct broker *b)
{
	return b->b_nqueued + b->b_shared->q_unacked >= b->b_cf->cf_max_jobs;
}

/* Jobs this broker still owes an outcome or Redis an answer. */
int
queue_busy(struct broker *b)
{
	struct queue	*q = b->b_shared;

	return q->q_nsubs + q->q_nanswers + q->q_conn[QC_JOBS].qc_reading;
}
