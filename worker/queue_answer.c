/*
 * Answers to jobs of the shared queue, on their way into Redis: those of
 * a turn of the broker's loop go together, in one MULTI/EXEC, with one
 * XACK of the entries they end (worker/queue_entry.c says which), so
 * there is never an acknowledgement without its answers; those to one
 * submitter are one entry of its reply stream, in one field.  A batch
 * Redis does not take (connection lost, an error) goes back to the head
 * of the line and waits for the connection.
 */
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

#define QUEUE_ANSBATCH		256	/* answers in one MULTI/EXEC */
#define QUEUE_REPLY_TTL		"3600"	/* a dead submitter's answers */
#define QUEUE_REPLY_MAXLEN	"100000"
#define QUEUE_DEAD_MAXLEN	"10000"

/* Answers written together, in one MULTI/EXEC, and the entries acked. */
struct qbatch {
	struct qansq	 ab_list;
	int		 ab_n;
	struct rentry	**ab_acks;
	int		 ab_nacks;
};

/* Redis has the batch: its answers are in, its entries acknowledged. */
static void
qbatch_free(struct queue *q, struct qbatch *ab)
{
	struct qans	*a;
	struct rentry	*e;
	int		 i;

	while ((a = TAILQ_FIRST(&ab->ab_list)) != NULL) {
		TAILQ_REMOVE(&ab->ab_list, a, a_entry);
		q->q_nanswers--;
		e = a->a_e;
		free(a->a_job);
		free(a);
		e->e_unsure--;
		queue_entrycheck(q, e);
	}
	for (i = 0; i < ab->ab_nacks; i++) {
		q->q_nacking--;
		queue_entryacked(q, ab->ab_acks[i]);
	}
	free(ab->ab_acks);
	free(ab);
}

/* The batch's answers go back to the head of the line; its acks wait. */
static void
qbatch_again(struct queue *q, struct qbatch *ab)
{
	struct qans	*a;
	int		 i;

	while ((a = TAILQ_LAST(&ab->ab_list, qansq)) != NULL) {
		TAILQ_REMOVE(&ab->ab_list, a, a_entry);
		TAILQ_INSERT_HEAD(&q->q_answers, a, a_entry);
	}
	for (i = 0; i < ab->ab_nacks; i++) {
		q->q_nacking--;
		queue_entryunacked(q, ab->ab_acks[i]);
	}
	free(ab->ab_acks);
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

/* XADD of a dead letter's job to NAME:dead. */
static void
qans_dead(struct queue *q, const struct qans *a)
{
	char		 seq[24];
	const char	*argv[12] = { "XADD", q->q_dead, "MAXLEN", "~",
			    QUEUE_DEAD_MAXLEN, "*", "s", seq, "r",
			    a->a_e->e_reply, "d", a->a_job };
	size_t		 len[12];
	int		 i;

	*queue_decimal(seq, a->a_seq) = '\0';
	for (i = 0; i < 11; i++)
		len[i] = strlen(argv[i]);
	len[11] = a->a_joblen;
	(void)queue_cmd(q, QC_CMD, NULL, NULL, 12, argv, len);
}

/* An answer's record in a reply entry: "SEQ KIND LEN\n" and its bytes. */
static size_t
qans_reclen(const struct qans *a)
{
	return 20 + 3 + 20 + 1 + a->a_len;	/* at most */
}

static char *
qans_record(char *p, const struct qans *a)
{
	p = queue_decimal(p, a->a_seq);
	*p++ = ' ';
	*p++ = a->a_kind;
	*p++ = ' ';
	p = queue_decimal(p, a->a_len);
	*p++ = '\n';
	memcpy(p, a->a_data, a->a_len);
	return p + a->a_len;
}

static int
qans_samereply(const struct qans *a, const struct qans *b)
{
	return a->a_e == b->a_e || strcmp(a->a_e->e_reply,
	    b->a_e->e_reply) == 0;
}

/*
 * The batch's answers to first's reply stream not yet written, first
 * among them, in one entry (up to QUEUE_PACKMAX bytes, or first alone):
 * its field a holds the record of each, as worker/queue_submit.c reads
 * them, and its field t this broker's average run time a job, in ns,
 * which tells the submitter how many jobs to put in an entry.  One entry
 * and one field, not an entry or fields an answer: Redis's cost, to add
 * and to read, goes by entries and fields, hardly by bytes.
 */
static void
qbatch_reply(struct queue *q, struct qans *first)
{
	const char	*argv[10] = { "XADD", first->a_e->e_reply, "MAXLEN",
			    "~", QUEUE_REPLY_MAXLEN, "*", "a", NULL, "t",
			    NULL };
	size_t		 len[10];
	struct qans	*a;
	size_t		 size = 0, n;
	char		*buf, *p, ns[24];
	int		 i, argc = 8;

	for (a = first; a != NULL; a = TAILQ_NEXT(a, a_entry)) {
		if (a->a_sent != QANS_NEW || !qans_samereply(a, first))
			continue;
		n = qans_reclen(a);
		if (size > 0 && size + n > QUEUE_PACKMAX)
			continue;
		a->a_sent = QANS_NOW;
		size += n;
	}
	if (size > q->q_ansbufcap) {
		free(q->q_ansbuf);
		if ((q->q_ansbuf = malloc(size)) == NULL)
			fatal("answers");
		q->q_ansbufcap = size;
	}
	buf = p = q->q_ansbuf;
	for (a = first; a != NULL; a = TAILQ_NEXT(a, a_entry)) {
		if (a->a_sent != QANS_NOW)
			continue;
		a->a_sent = QANS_SENT;
		p = qans_record(p, a);
	}
	argv[7] = buf;
	if (q->q_b->b_jobns > 0) {
		*queue_decimal(ns, q->q_b->b_jobns) = '\0';
		argv[9] = ns;
		argc = 10;
	}
	for (i = 0; i < argc; i++)
		len[i] = i == 7 ? (size_t)(p - buf) : strlen(argv[i]);
	(void)queue_cmd(q, QC_CMD, NULL, NULL, argc, argv, len);
}

/* Each reply stream's answers, its expiry, and dead letters' jobs. */
static void
qbatch_replies(struct queue *q, struct qbatch *ab)
{
	const char	*expire[3] = { "EXPIRE", NULL, QUEUE_REPLY_TTL };
	struct qans	*a;

	TAILQ_FOREACH(a, &ab->ab_list, a_entry)
		a->a_sent = QANS_NEW;
	TAILQ_FOREACH(a, &ab->ab_list, a_entry) {
		if (a->a_job != NULL)
			qans_dead(q, a);
		if (a->a_sent == QANS_SENT)
			continue;
		qbatch_reply(q, a);
		expire[1] = a->a_e->e_reply;
		(void)queue_cmd(q, QC_CMD, NULL, NULL, 3, expire, NULL);
	}
}

/* Entry e is acknowledged in batch ab. */
static void
qbatch_acks(struct queue *q, struct qbatch *ab, struct rentry *e)
{
	e->e_acking = 1;
	q->q_nacking++;
	ab->ab_acks[ab->ab_nacks++] = e;
}

/*
 * The entries the batch acknowledges: those whose every job is done and
 * whose answers not yet in Redis are all in the batch; and those whose
 * answers went in before, waiting for an XACK of their own.
 */
static void
qbatch_ack(struct queue *q, struct qbatch *ab)
{
	const char	**argv;
	struct qans	*a;
	struct rentry	*e;
	int		 i, n = 0;

	if ((ab->ab_acks = reallocarray(NULL, ab->ab_n + QUEUE_ANSBATCH,
	    sizeof(*ab->ab_acks))) == NULL)
		fatal("answers");
	TAILQ_FOREACH(a, &ab->ab_list, a_entry)
		a->a_e->e_inbatch++;
	TAILQ_FOREACH(a, &ab->ab_list, a_entry) {
		e = a->a_e;
		if (e->e_inbatch == e->e_unsure && e->e_jobs == 0 &&
		    !e->e_lost && !e->e_acking)
			qbatch_acks(q, ab, e);
		e->e_inbatch = 0;
	}
	while (ab->ab_nacks < ab->ab_n + QUEUE_ANSBATCH &&
	    (e = TAILQ_FIRST(&q->q_acks)) != NULL) {
		TAILQ_REMOVE(&q->q_acks, e, e_acklink);
		e->e_ackq = 0;
		q->q_nacks--;
		qbatch_acks(q, ab, e);
	}
	if (ab->ab_nacks == 0)
		return;
	if ((argv = reallocarray(NULL, ab->ab_nacks + 3, sizeof(*argv))) ==
	    NULL)
		fatal("answers");
	argv[n++] = "XACK";
	argv[n++] = q->q_jobs;
	argv[n++] = q->q_group;
	for (i = 0; i < ab->ab_nacks; i++)
		argv[n++] = ab->ab_acks[i]->e_id;
	(void)queue_cmd(q, QC_CMD, NULL, NULL, n, argv, NULL);
	free(argv);
}

/*
 * The answers waiting, QUEUE_ANSBATCH at a time, and the entries waiting
 * for their acknowledgement: MULTI, the answers to each reply stream in
 * one entry and its expiry (and a dead letter's job to NAME:dead), one
 * XACK of the entries, EXEC.
 */
void
queue_flush(struct queue *q)
{
	const char	*multi[1] = { "MULTI" }, *exec[1] = { "EXEC" };
	struct qbatch	*ab;
	struct qans	*a;

	while ((!TAILQ_EMPTY(&q->q_answers) || !TAILQ_EMPTY(&q->q_acks)) &&
	    queue_up(q, QC_CMD)) {
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
		qbatch_replies(q, ab);
		qbatch_ack(q, ab);
		if (queue_cmd(q, QC_CMD, queue_answerdone, ab, 1, exec,
		    NULL) == -1) {
			qbatch_again(q, ab);
			return;
		}
	}
}

/* An answer to job seq of entry e, until Redis has it. */
struct qans *
queue_ansnew(struct rentry *e, uint64_t seq, int kind, const char *data,
    size_t len)
{
	struct qans	*a;

	if ((a = malloc(sizeof(*a) + len)) == NULL) {
		log_warn("answer");
		return NULL;
	}
	memset(a, 0, sizeof(*a));
	a->a_e = e;
	e->e_unsure++;
	a->a_seq = seq;
	a->a_kind = kind;
	if (data != NULL)
		memcpy(a->a_data, data, len);
	a->a_len = len;
	return a;
}

/* Written by the next queue_flush(), with the others of this turn. */
void
queue_ansqueue(struct queue *q, struct qans *a)
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
		a = queue_ansnew(rj->r_e, rj->r_seq, 'e', "not enough memory",
		    17);
	else
		a = queue_ansnew(rj->r_e, rj->r_seq, kind, p, m->m_len);
	if (m->m_fd != -1) {
		if (p != NULL)
			ipc_memfd_unmap(p, m->m_len);
		(void)close(m->m_fd);
	}
	/* Without it, the entry is never acknowledged here: see
	   worker/queue_entry.c. */
	if (a == NULL)
		return;
	rj->r_answered = 1;
	queue_ansqueue(b->b_shared, a);
}
