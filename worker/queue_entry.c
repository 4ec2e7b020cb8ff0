/*
 * The entries of the jobs stream a broker with workers was given, from
 * the read to their acknowledgement.  An entry holds one job (fields r,
 * s, d: the submitter's reply stream, its number for the job, the job) or
 * several (fields r and j: for each, "SEQ LEN\n" and LEN bytes;
 * worker/queue_submit.c packs them so).  Each job runs as a local job
 * (worker/job.c); its answer goes to Redis (worker/queue_answer.c); the
 * entry is acknowledged once every job of it has its answer in Redis, in
 * the MULTI/EXEC of the last answers when no earlier one is still on its
 * way, else in one of its own once they are in.  So there is never an
 * acknowledgement without every answer, even when a batch of answers
 * fails after a later one went.
 *
 * A job that ends here without an answer (its broker stops before it
 * ran) leaves its entry unacknowledged: another broker claims it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "broker.h"
#include "ipc.h"
#include "log.h"
#include "queue.h"

/* An entry of n jobs, in one allocation with their records. */
static struct rentry *
qentry_new(struct queue *q, const char *id, const char *reply, int n)
{
	struct rentry	*e;
	size_t		 rlen = strlen(reply);

	if ((e = calloc(1, sizeof(*e) + n * sizeof(e->e_rj[0]) + rlen +
	    1)) == NULL) {
		log_warn("job");
		return NULL;
	}
	(void)strlcpy(e->e_id, id, sizeof(e->e_id));
	e->e_reply = (char *)&e->e_rj[n];
	memcpy(e->e_reply, reply, rlen + 1);
	TAILQ_INSERT_TAIL(&q->q_entries, e, e_link);
	return e;
}

static void
qentry_free(struct queue *q, struct rentry *e)
{
	TAILQ_REMOVE(&q->q_entries, e, e_link);
	free(e);
}

/*
 * Something of e's is done: when all its jobs are and their answers are
 * in Redis, it waits for an XACK of its own; or, when one of its jobs
 * ended unanswered, it is forgotten here and left to a claim.
 */
void
queue_entrycheck(struct queue *q, struct rentry *e)
{
	if (e->e_jobs > 0 || e->e_unsure > 0 || e->e_acking || e->e_ackq)
		return;
	if (e->e_lost) {
		qentry_free(q, e);
		return;
	}
	e->e_ackq = 1;
	TAILQ_INSERT_TAIL(&q->q_acks, e, e_acklink);
	q->q_nacks++;
}

/* e's XACK went in: it is done with. */
void
queue_entryacked(struct queue *q, struct rentry *e)
{
	qentry_free(q, e);
}

/* e's XACK did not go in: again with the next batch. */
void
queue_entryunacked(struct queue *q, struct rentry *e)
{
	e->e_acking = 0;
	queue_entrycheck(q, e);
}

void
queue_rjobfree(struct rjob *rj)
{
	struct queue	*q = rj->r_q;
	struct rentry	*e = rj->r_e;

	q->q_nheld--;
	e->e_jobs--;
	if (!rj->r_answered)
		e->e_lost = 1;
	queue_entrycheck(q, e);
}

/* A decimal number of p's up to end, then c; NULL if none. */
const char *
queue_number(const char *p, const char *end, uint64_t *n, int c)
{
	const char	*start = p;

	for (*n = 0; p < end && *p >= '0' && *p <= '9' && p - start < 19; p++)
		*n = *n * 10 + (*p - '0');
	if (p == start || p == end || *p != c)
		return NULL;
	return p + 1;
}

/* One job of a packed entry at p: its number and bytes; NULL if none. */
static const char *
qentry_record(const char *p, const char *end, uint64_t *seq,
    const char **data, uint64_t *len)
{
	if ((p = queue_number(p, end, seq, ' ')) == NULL ||
	    (p = queue_number(p, end, len, '\n')) == NULL ||
	    *len > (uint64_t)(end - p))
		return NULL;
	*data = p;
	return p + *len;
}

/* The jobs of a packed entry, or -1 when it is not as written. */
static int
qentry_count(const redisReply *v)
{
	const char	*p = v->str, *end = v->str + v->len, *data;
	uint64_t	 seq, len;
	int		 n = 0;

	while (p < end) {
		if ((p = qentry_record(p, end, &seq, &data, &len)) == NULL)
			return -1;
		n++;
	}
	return n > 0 ? n : -1;
}

/* Job i of entry e becomes a local job. */
static void
qentry_job(struct queue *q, struct rentry *e, int i, uint64_t seq,
    const char *data, size_t len)
{
	struct broker	*b = q->q_b;
	struct ipc_hdr	 h;
	struct ipc_msg	 m;
	struct rjob	*rj = &e->e_rj[i];
	struct job	*j;

	rj->r_seq = seq;
	rj->r_q = q;
	rj->r_e = e;
	memset(&h, 0, sizeof(h));
	h.h_type = IPC_JOB;
	h.h_slot = UINT32_MAX;		/* no handler of ours */
	h.h_id = ++q->q_localid;
	m.m_hdr = h;
	m.m_data = data;
	m.m_len = len;
	m.m_fd = -1;
	if ((j = job_new(&h, &m)) == NULL) {
		e->e_lost = 1;
		return;
	}
	j->j_rq = rj;
	e->e_jobs++;
	q->q_nheld++;
	job_enqueue(b, j, 0);
}

/* A job delivered twice without an answer: to NAME:dead, failed. */
static void
qentry_dead(struct queue *q, struct rentry *e, uint64_t seq,
    const char *data, size_t len)
{
	struct qans	*a;

	if ((a = queue_ansnew(e, seq, 'e', QUEUE_DEAD_MSG,
	    strlen(QUEUE_DEAD_MSG))) == NULL) {
		e->e_lost = 1;
		return;
	}
	if ((a->a_job = malloc(len ? len : 1)) != NULL) {
		memcpy(a->a_job, data, len);
		a->a_joblen = len;
	}
	queue_ansqueue(q, a);
}

static void
qentry_one(struct queue *q, struct rentry *e, int i, uint64_t seq,
    const char *data, size_t len, long long deliveries)
{
	if (deliveries >= 2)
		qentry_dead(q, e, seq, data, len);
	else
		qentry_job(q, e, i, seq, data, len);
}

/*
 * An entry read or claimed: its jobs become local jobs, or, delivered
 * twice, dead letters.
 */
void
queue_take(struct queue *q, const redisReply *en, long long deliveries)
{
	const redisReply	*reply, *seq, *data, *jobs;
	const char		*id, *p, *end, *d;
	struct rentry		*e;
	uint64_t		 s, len;
	int			 n = 1, i = 0;

	if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
	    en->element[0]->type != REDIS_REPLY_STRING ||
	    en->element[1]->type != REDIS_REPLY_ARRAY)
		return;		/* gone since: answered */
	id = en->element[0]->str;
	reply = queue_field(en->element[1], "r");
	seq = queue_field(en->element[1], "s");
	data = queue_field(en->element[1], "d");
	jobs = queue_field(en->element[1], "j");
	if (seq != NULL && data != NULL) {
		jobs = NULL;
		if (queue_number(seq->str, seq->str + seq->len + 1, &s,
		    '\0') == NULL)
			n = -1;
	} else if (jobs != NULL)
		n = qentry_count(jobs);
	else
		n = -1;
	if (reply == NULL || en->element[0]->len >= sizeof(e->e_id) ||
	    n == -1) {
		log_warnx("queue: entry %s is no job", id);
		return;
	}
	if ((e = qentry_new(q, id, reply->str, n)) == NULL)
		return;
	if (deliveries >= 2)
		log_warnx("queue: %s %s delivered twice without an answer: "
		    "to %s", n > 1 ? "jobs of" : "job", id, q->q_dead);
	if (jobs == NULL)
		qentry_one(q, e, 0, s, data->str, data->len, deliveries);
	else
		for (p = jobs->str, end = p + jobs->len; p < end; i++)
			if ((p = qentry_record(p, end, &s, &d, &len)) != NULL)
				qentry_one(q, e, i, s, d, len, deliveries);
	/* Perhaps none could be made: then it is done with already. */
	queue_entrycheck(q, e);
	q->q_perentry = q->q_perentry == 0 ? n * 16 :
	    (3 * q->q_perentry + n * 16) / 4;
}

/* Entry en is one this broker was given and holds still. */
int
queue_holds(struct queue *q, const redisReply *en)
{
	struct rentry	*e;

	if (en->type != REDIS_REPLY_ARRAY || en->elements != 2 ||
	    en->element[0]->type != REDIS_REPLY_STRING)
		return 0;
	TAILQ_FOREACH(e, &q->q_entries, e_link)
		if (strcmp(e->e_id, en->element[0]->str) == 0)
			return 1;
	return 0;
}
