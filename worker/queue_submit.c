/*
 * The submitting side of the shared queue (worker/queue_job.c has the
 * working side and the keys).
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
 * What a job's outcome counts in --status: this broker counted it
 * submitted; the broker whose worker ran it counts it answered or
 * failed; the failures decided here (queue unavailable, Redis refusing
 * the job, a dead letter) count here.
 */
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

#define QUEUE_TRIMEVERY		256	/* answers read between XTRIMs */
#define QUEUE_WAIT_MS		60000	/* a job's deadline without timeout */

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
	if (s->s_tosend)
		TAILQ_REMOVE(&q->q_tosend, s, s_send);
	LIST_REMOVE(s, s_hash);
	TAILQ_REMOVE(&q->q_order, s, s_entry);
	q->q_nsubs--;
	if (!s->s_acked)
		q->q_unacked--;
	if (s->s_data != s->s_small)
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

/* The jobs of an XADD, until Redis answers it. */
struct qxadd {
	int		 x_n;
	uint64_t	 x_seq[];
};

static void
qsub_xadded(redisAsyncContext *ac, void *r, void *priv)
{
	struct queue	*q = ((struct qconn *)ac->data)->qc_q;
	redisReply	*rp = r;
	struct qxadd	*x = priv;
	struct qsub	*s;
	char		 msg[256];
	int		 i;

	if (rp != NULL && rp->type == REDIS_REPLY_ERROR) {
		(void)snprintf(msg, sizeof(msg), "queue: %s", rp->str);
		log_warnx("%s", msg);
	} else if (rp != NULL)
		q->q_addedsince++;
	for (i = 0; i < x->x_n; i++) {
		if ((s = qsub_find(q, x->x_seq[i])) == NULL)
			continue;
		s->s_sent = 0;
		if (rp == NULL)
			continue;	/* connection lost: sent again */
		if (rp->type == REDIS_REPLY_ERROR) {
			stats_broker.b_failed[STATS_JF_QUEUE]++;
			qsub_reply(q->q_b, s, IPC_ERROR, 0, msg, strlen(msg));
			continue;
		}
		s->s_acked = 1;
		q->q_unacked--;
		/* A failover may lose it: worker/queue_sentinel.c sends it
		   again. */
		if (q->q_sentinel != NULL || s->s_data == s->s_small)
			continue;
		free(s->s_data);
		s->s_data = NULL;
	}
	free(x);
}

/* How many jobs an entry takes: see QUEUE_HOLD_NS. */
static int
qsub_perentry(struct queue *q)
{
	if (q->q_jobns <= 0 || q->q_jobns >= QUEUE_HOLD_NS / 2)
		return 1;
	return QUEUE_HOLD_NS / q->q_jobns >= QUEUE_PACKJOBS ?
	    QUEUE_PACKJOBS : (int)(QUEUE_HOLD_NS / q->q_jobns);
}

/* The jobs sv packed in q_pack, each "SEQ LEN\n" and its bytes. */
static size_t
qsub_pack(struct queue *q, struct qsub **sv, int n, size_t size)
{
	struct qsub	*s;
	char		*p;
	int		 i;

	size += n * 48;
	if (size > q->q_packcap) {
		free(q->q_pack);
		if ((q->q_pack = malloc(size)) == NULL)
			fatal("queue");
		q->q_packcap = size;
	}
	p = q->q_pack;
	for (i = 0; i < n; i++) {
		s = sv[i];
		p = queue_decimal(p, s->s_seq);
		*p++ = ' ';
		p = queue_decimal(p, s->s_len);
		*p++ = '\n';
		memcpy(p, s->s_data, s->s_len);
		p += s->s_len;
	}
	return p - q->q_pack;
}

/*
 * The jobs waiting to go, first in first: as many to an entry as
 * qsub_perentry() says, up to QUEUE_PACKMAX bytes (a larger job alone).
 * An entry of one job has it in fields s and d, as a job added by hand
 * would; one of several in field j.
 */
static void
qsub_send(struct queue *q)
{
	char		 seq[24];
	const char	*argv[9] = { "XADD", q->q_jobs, "*", "r", q->q_reply,
			    NULL, NULL, NULL, NULL };
	size_t		 len[9], size;
	struct qxadd	*x;
	struct qsub	*s, *sv[QUEUE_PACKJOBS];
	int		 i, max = qsub_perentry(q), argc;

	while ((s = TAILQ_FIRST(&q->q_tosend)) != NULL && queue_up(q, QC_CMD)) {
		if ((x = malloc(sizeof(*x) + max * sizeof(*x->x_seq))) ==
		    NULL)
			fatal("queue");
		x->x_n = 0;
		size = 0;
		do {
			if (x->x_n > 0 && size + s->s_len > QUEUE_PACKMAX)
				break;
			TAILQ_REMOVE(&q->q_tosend, s, s_send);
			s->s_tosend = 0;
			s->s_sent = 1;
			sv[x->x_n] = s;
			x->x_seq[x->x_n++] = s->s_seq;
			size += s->s_len;
		} while (x->x_n < max && (s = TAILQ_FIRST(&q->q_tosend)) !=
		    NULL);
		for (i = 0; i < 5; i++)
			len[i] = strlen(argv[i]);
		if (x->x_n == 1) {
			s = sv[0];
			*queue_decimal(seq, s->s_seq) = '\0';
			argv[5] = "s";
			argv[6] = seq;
			argv[7] = "d";
			argv[8] = s->s_data;
			len[5] = len[7] = 1;
			len[6] = strlen(seq);
			len[8] = s->s_len;
			argc = 9;
		} else {
			len[6] = qsub_pack(q, sv, x->x_n, size);
			argv[5] = "j";
			argv[6] = q->q_pack;
			len[5] = 1;
			argc = 7;
		}
		if (queue_cmd(q, QC_CMD, qsub_xadded, x, argc, argv, len) ==
		    -1) {
			/* Down after all: again once it is up. */
			for (i = 0; i < x->x_n; i++)
				if ((s = qsub_find(q, x->x_seq[i])) != NULL)
					s->s_sent = 0;
			free(x);
			queue_resend(q);
			return;
		}
	}
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
	size_t		 small = m->m_len <= QUEUE_SMALLJOB ? m->m_len : 0;

	if ((s = calloc(1, sizeof(*s) + small)) == NULL ||
	    (s->s_data = small > 0 || m->m_len == 0 ? s->s_small :
	    malloc(m->m_len)) == NULL) {
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
	s->s_tosend = 1;
	TAILQ_INSERT_TAIL(&q->q_tosend, s, s_send);
}

/* One answer read: to its handler, once. */
static void
queue_reply(struct queue *q, const char *id, uint64_t seq, int kind,
    const char *data, size_t len)
{
	struct qsub	*s;
	int		 type, flags;

	if ((s = qsub_find(q, seq)) == NULL) {	/* it ran twice */
		log_debug("queue: answer %s dropped: its job was answered "
		    "already", id);
		return;
	}
	type = kind == 'e' ? IPC_ERROR : IPC_ANSWER;
	flags = kind == 'n' ? IPC_F_NIL : 0;
	/* The host that ran a job counts its outcome, but no host ran a
	   dead letter to the end: its failure counts here. */
	if (type == IPC_ERROR && len == strlen(QUEUE_DEAD_MSG) &&
	    memcmp(data, QUEUE_DEAD_MSG, len) == 0)
		stats_broker.b_failed[STATS_JF_DEAD]++;
	qsub_reply(q->q_b, s, type, flags, data, len);
}

/*
 * The answers of an entry of the reply stream, in its field a: for each
 * "SEQ KIND LEN\n" and LEN bytes (worker/queue_answer.c writes a batch's
 * answers to one submitter so).
 */
static void
queue_entry(struct queue *q, const char *id, const redisReply *f)
{
	const redisReply	*v;
	const char		*p, *next, *end;
	uint64_t		 seq, len, ns;
	int			 kind;

	/* The answering host's run time a job: how many go to an entry. */
	if ((v = queue_field(f, "t")) != NULL &&
	    queue_number(v->str, v->str + v->len + 1, &ns, '\0') != NULL &&
	    ns > 0 && ns < 1000000000000ULL)
		q->q_jobns = q->q_jobns == 0 ? (long long)ns :
		    (7 * q->q_jobns + (long long)ns) / 8;
	if ((v = queue_field(f, "a")) == NULL)
		return;
	for (p = v->str, end = v->str + v->len; p < end; p = next + len) {
		if ((next = queue_number(p, end, &seq, ' ')) == NULL ||
		    end - next < 2 || next[1] != ' ')
			break;
		kind = next[0];
		if ((next = queue_number(next + 2, end, &len, '\n')) == NULL ||
		    len > (uint64_t)(end - next))
			break;
		queue_reply(q, id, seq, kind, next, len);
	}
	if (p < end)
		log_warnx("queue: answers %s: not as written", id);
}

/* Entries of this broker's reply stream. */
static void
queue_replies(struct queue *q, const redisReply *entries)
{
	const redisReply	*e;
	size_t			 i;

	for (i = 0; i < entries->elements; i++) {
		e = entries->element[i];
		if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
		    e->element[0]->type != REDIS_REPLY_STRING)
			continue;
		(void)strlcpy(q->q_lastreply, e->element[0]->str,
		    sizeof(q->q_lastreply));
		q->q_untrimmed++;
		queue_entry(q, e->element[0]->str, e->element[1]);
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
		stats_broker.b_failed[STATS_JF_QUEUE]++;
		qsub_reply(q->q_b, s, IPC_ERROR, 0, "queue unavailable", 17);
	}
}

/*
 * After a reconnection: jobs Redis has not acknowledged go again, before
 * those submitted since.
 */
void
queue_resend(struct queue *q)
{
	struct qsub	*s;

	TAILQ_FOREACH_REVERSE(s, &q->q_order, qsubq, s_entry)
		if (!s->s_acked && !s->s_sent && !s->s_tosend) {
			s->s_tosend = 1;
			TAILQ_INSERT_HEAD(&q->q_tosend, s, s_send);
		}
}

/*
 * The submitter's turn: read answers, fail jobs past their deadline, add
 * the jobs of the turn.
 */
void
queue_submitter(struct queue *q, const struct timespec *now)
{
	queue_listen(q);
	if (q->q_nsubs > 0)
		queue_expire(q, now);
	qsub_send(q);
}

/* Handlers' jobs Redis has not taken yet count against max-jobs. */
int
queue_full(struct broker *b)
{
	return b->b_nqueued + b->b_shared->q_unacked >= b->b_cf->cf_max_jobs;
}
