/*
 * The broker's side of its workers: which worker gets which queued job
 * (broker_dispatch), and what a worker sends back (broker_readworker):
 * answers and errors, which go on to the submitter; IPC_DONE for an
 * answer the worker sent its handler itself (lua/work_direct.c); forwards;
 * and what it says of itself (ready, cannot start, exiting).  A worker
 * answers its jobs in the order it was given them, so each message is for
 * the first job the worker holds.
 *
 * A lone IPC_DONE comes on a socket all the workers share, which the
 * broker reads whenever it wakes, before anything else, but wakes for only
 * when it needs to know at once that a worker is free: jobs wait for one,
 * or a worker holds a prefetched job, whose clock starts with the DONE
 * before it.  Otherwise the DONE waits for the next job, and a job costs
 * the broker one wake-up, not two.  Only for a while: past BROKER_LAZY_MS
 * after the last job it gave, the broker reads it at once, so that its
 * figures (/metrics, /status) show an idle pool as idle.  The DONE says when the answer left, so
 * run times and deadlines are as if it had been read then.
 *
 * A worker's messages then come on two sockets, each in order, and the
 * broker may read one ahead of the other.  A message that does not match
 * the worker's first job sends the broker to read the DONE socket before
 * it judges; a DONE that comes before the messages sent ahead of it waits
 * at its worker (w_early) until they have been read (broker_jobdone).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "queue.h"
#include "stats.h"
#include "util.h"

/* Prefetch: at most this many jobs, or this much work, per worker. */
#define BROKER_PREFETCH		32
#define BROKER_PREFETCH_NS	1000000LL
#define BROKER_LAZY_MS		2	/* a DONE may wait this long */

/*
 * The worker's running job is done, one way or another: the next one it
 * holds starts, or it is idle.  The run time feeds the prefetch depth.
 */
static int	broker_isfor(const struct job *, const struct ipc_hdr *);

static void
broker_jobend(struct broker *b, struct bworker *w, const struct timespec *at)
{
	struct job	*j = TAILQ_FIRST(&w->w_jobs);
	struct timespec	 now;
	long long	 ns;

	TAILQ_REMOVE(&w->w_jobs, j, j_entry);
	job_free(j);
	b->b_done++;
	w->w_alone = 0;
	if (at != NULL)
		now = *at;
	else
		clock_now(&now);
	if ((ns = clock_ns(&w->w_since, &now)) < 0)
		ns = 0;
	b->b_jobns = b->b_jobns ? (7 * b->b_jobns + ns) / 8 : ns;
	stats_observe(&stats_broker.b_time, ns);
	if (--w->w_njobs > 0)
		job_started(b, w, &now);
	else if (!w->w_exiting)
		pool_idle(b, w);
}

/* ... and then each DONE that came early and is the next job's. */
static void
broker_jobdone(struct broker *b, struct bworker *w, const struct timespec *at)
{
	struct early	*e;

	broker_jobend(b, w, at);
	while ((e = STAILQ_FIRST(&w->w_early)) != NULL &&
	    broker_isfor(TAILQ_FIRST(&w->w_jobs), &e->e_hdr)) {
		STAILQ_REMOVE_HEAD(&w->w_early, e_entry);
		w->w_nearly--;
		stats_broker.b_answered++;
		broker_jobend(b, w, &e->e_at);
		free(e);
	}
}

/* Keep a DONE that came before what its worker sent ahead of it. */
static void
broker_keepearly(struct bworker *w, const struct ipc_hdr *h,
    const struct timespec *at)
{
	struct early	*e;

	if (w->w_nearly >= BROKER_PREFETCH * 2 ||
	    (e = malloc(sizeof(*e))) == NULL) {
		log_warnx("worker %d: DONE for job %llu dropped", (int)w->w_pid,
		    (unsigned long long)h->h_id);
		return;
	}
	e->e_hdr = *h;
	e->e_at = *at;
	STAILQ_INSERT_TAIL(&w->w_early, e, e_entry);
	w->w_nearly++;
}

void
broker_forgetearly(struct bworker *w)
{
	struct early	*e;

	while ((e = STAILQ_FIRST(&w->w_early)) != NULL) {
		STAILQ_REMOVE_HEAD(&w->w_early, e_entry);
		free(e);
	}
	w->w_nearly = 0;
}

/* A worker's error: its script's, or its own timer's (lua/work_worker.c). */
static void
broker_failed(const struct ipc_msg *m)
{
	static const char	 late[] = "job timed out";

	if (m->m_fd == -1 && m->m_len == sizeof(late) - 1 &&
	    memcmp(m->m_data, late, m->m_len) == 0)
		stats_broker.b_failed[STATS_JF_TIMEOUT]++;
	else
		stats_broker.b_failed[STATS_JF_WORKERERROR]++;
}

/* Is m for j, the first job its worker holds? */
static int
broker_isfor(const struct job *j, const struct ipc_hdr *h)
{
	return j != NULL && j->j_hdr.h_id == h->h_id &&
	    j->j_hdr.h_pid == h->h_pid && j->j_hdr.h_slot == h->h_slot &&
	    (h->h_type == IPC_ANSWER || h->h_type == IPC_ERROR ||
	    h->h_type == IPC_FORWARD || h->h_type == IPC_DONE) &&
	    (h->h_type != IPC_DONE || j->j_rq == NULL);
}

static void
broker_fromworker(struct broker *b, struct bworker *w, const struct ipc_msg *m)
{
	struct job	*j = TAILQ_FIRST(&w->w_jobs);
	const struct ipc_hdr *h = &m->m_hdr;
	struct ipc_done	 d;
	struct timespec	 at;

	switch (h->h_type) {
	case IPC_STATS:
		broker_stats(b, &w->w_peer.p_out, h);
		return;
	case IPC_READY:
		w->w_ready = 1;
		b->b_startfails = 0;
		broker_tell(b, "ready");
		if (b->b_broken) {
			b->b_broken = 0;
			log_info("a worker started: jobs run again");
		}
		return;
	case IPC_EXIT:
		if (w->w_njobs == 0 && !w->w_exiting) {
			TAILQ_REMOVE(&b->b_idle, w, w_idle);
			b->b_nidle--;
		}
		w->w_exiting = w->w_said = 1;
		w->w_saidrunning = (h->h_flags & IPC_F_RUNNING) != 0;
		return;
	case IPC_STARTFAIL:
		w->w_startfail = 1;
		(void)snprintf(b->b_starterr, sizeof(b->b_starterr), "%.*s",
		    (int)m->m_len, m->m_data != NULL ? m->m_data : "");
		return;
	}
	/* A worker answers its jobs in the order it was given them; the
	   DONE of the one before may wait in the shared socket, or what
	   came before this DONE in the worker's own. */
	if (h->h_type == IPC_DONE && m->m_len == sizeof(d)) {
		memcpy(&d, m->m_data, sizeof(d));
		at.tv_sec = (time_t)d.d_sec;
		at.tv_nsec = d.d_nsec;
		if (!broker_isfor(j, h)) {
			broker_keepearly(w, h, &at);
			return;
		}
		stats_broker.b_answered++;
		broker_jobdone(b, w, &at);
		return;
	}
	if (!broker_isfor(j, h) && j != NULL && j->j_rq == NULL &&
	    !b->b_indone) {
		broker_readdone(b);
		j = TAILQ_FIRST(&w->w_jobs);
	}
	if (!broker_isfor(j, h)) {
		log_warnx("worker %d: unexpected message type %d",
		    (int)w->w_pid, h->h_type);
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		return;
	}
	switch (h->h_type) {
	case IPC_ANSWER:
	case IPC_ERROR:
		if (h->h_type == IPC_ANSWER)
			stats_broker.b_answered++;
		else
			broker_failed(m);
		broker_answer(b, j, h->h_type, h->h_flags & IPC_F_NIL, m);
		if (h->h_flags & IPC_F_LAST)
			w->w_exiting = w->w_said = 1;
		break;
	case IPC_DONE:		/* the worker sent the answer itself */
		stats_broker.b_answered++;
		break;
	case IPC_FORWARD:
		job_forward(b, j, m);
		break;
	}
	broker_jobdone(b, w, NULL);
}

/* Take in every DONE the shared socket holds: a record a datagram. */
void
broker_readdone(struct broker *b)
{
	struct {
		struct ipc_hdr	 h;
		struct ipc_done	 d;
	}		 rec[IPC_BATCH];
	struct mmsghdr	 mm[IPC_BATCH];
	struct iovec	 iov[IPC_BATCH];
	struct ipc_msg	 m;
	struct bworker	*w;
	int		 i, n;

	b->b_indone = 1;
	do {
		memset(mm, 0, sizeof(mm));
		for (i = 0; i < IPC_BATCH; i++) {
			iov[i].iov_base = &rec[i];
			iov[i].iov_len = sizeof(rec[i]);
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		if ((n = recvmmsg(b->b_donefd, mm, IPC_BATCH, MSG_DONTWAIT,
		    NULL)) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("done");
			break;
		}
		for (i = 0; i < n; i++) {
			if (mm[i].msg_len != sizeof(rec[i]) ||
			    (mm[i].msg_hdr.msg_flags & MSG_TRUNC) ||
			    rec[i].h.h_type != IPC_DONE ||
			    rec[i].h.h_len != sizeof(rec[i].d))
				continue;
			TAILQ_FOREACH(w, &b->b_workers, w_entry)
				if (w->w_pid == (pid_t)rec[i].d.d_worker)
					break;
			if (w == NULL)
				continue;
			memset(&m, 0, sizeof(m));
			m.m_hdr = rec[i].h;
			m.m_data = (const char *)&rec[i].d;
			m.m_len = sizeof(rec[i].d);
			m.m_fd = -1;
			broker_fromworker(b, w, &m);
		}
	} while (n == IPC_BATCH);
	b->b_indone = 0;
}

/*
 * Must a DONE wake the broker?  When jobs wait for a worker, when one
 * holds a prefetched job, when stopping, with a shared queue, whose reads
 * follow the idle workers, and once no job has come for a while.  If not
 * yet, *ms tells how long it may wait for a job before it must (-1: no
 * worker is busy).
 */
int
broker_wantdone(struct broker *b, long long *ms)
{
	struct bworker	*w;
	struct timespec	 now;
	int		 busy = 0;

	*ms = -1;
	if (b->b_nqueued > 0 || b->b_stopping || b->b_shared != NULL)
		return 1;
	TAILQ_FOREACH(w, &b->b_workers, w_entry) {
		if (w->w_njobs > 1)
			return 1;
		busy |= w->w_njobs;
	}
	if (!busy)
		return 0;
	clock_now(&now);
	if ((*ms = clock_ms(&now, &b->b_lazy)) <= 0) {
		*ms = -1;
		return 1;
	}
	return 0;
}

/*
 * Take in what a worker sent: one batch, or, for a dead worker (all), so
 * that no answer it sent is lost.
 */
void
broker_readworker(struct broker *b, struct bworker *w, int all)
{
	struct ipc_msg	 m;
	int		 i, n;

	do {
		n = ipc_batch_read(&b->b_batch, w->w_peer.p_fd, IPC_BATCH);
		for (i = 0; i < n; i++) {
			ipc_in_feed(&w->w_peer.p_in, &b->b_batch, i);
			while (ipc_in_next(&w->w_peer.p_in, &m))
				broker_fromworker(b, w, &m);
		}
	} while (all && n > 0);
}

static int
broker_give(struct broker *b, struct bworker *w)
{
	struct jobq	*q = TAILQ_EMPTY(&b->b_quarantine) ? &b->b_queue :
			    &b->b_quarantine;
	struct job	*j = TAILQ_FIRST(q);
	struct ipc_hdr	 h;
	struct timespec	 now;
	int		 fd, r;

	/* A chain past its deadline cannot end in time. */
	if (timespecisset(&j->j_chain)) {
		clock_now(&now);
		if (timespeccmp(&now, &j->j_chain, >=)) {
			TAILQ_REMOVE(q, j, j_entry);
			b->b_nqueued--;
			stats_broker.b_failed[STATS_JF_TIMEOUT]++;
			job_fail(b, j, "job timed out");
			return 0;
		}
	}
	/* A local job's answer may go straight to its handler. */
	h = j->j_hdr;
	if (j->j_rq == NULL)
		h.h_flags |= IPC_F_DIRECT;
	/* A memfd job keeps its descriptor here, should the worker die. */
	if (j->j_fd != -1) {
		if ((fd = dup(j->j_fd)) == -1)
			r = -1;
		else
			r = ipc_out_addfd(&w->w_peer.p_out, &h, fd, j->j_len);
	} else
		r = ipc_out_add(&w->w_peer.p_out, &h, j->j_data, j->j_len);
	if (r == -1) {
		log_warn("dispatch");
		return -1;
	}
	TAILQ_REMOVE(q, j, j_entry);
	b->b_nqueued--;
	clock_now(&b->b_lazy);
	clock_add(&b->b_lazy, BROKER_LAZY_MS);
	j->j_state = JOB_HANDED;
	TAILQ_INSERT_TAIL(&w->w_jobs, j, j_entry);
	if (w->w_njobs++ == 0) {
		TAILQ_REMOVE(&b->b_idle, w, w_idle);
		b->b_nidle--;
		job_started(b, w, NULL);
	}
	if (j->j_alone)
		w->w_alone = 1;
	w->w_ran++;
	return 0;
}

/*
 * How many jobs a busy worker may hold: about a millisecond's worth, so
 * that short jobs travel in batches while a job that takes time is never
 * queued behind another for long.
 */
static int
broker_depth(struct broker *b)
{
	long long	 depth;

	if (b->b_jobns <= 0)
		return 1;
	depth = BROKER_PREFETCH_NS / b->b_jobns;
	if (depth < 1)
		return 1;
	return depth > BROKER_PREFETCH ? BROKER_PREFETCH : (int)depth;
}

/*
 * Queued jobs go to idle workers, quarantined ones first, then the
 * oldest; only when no worker is idle do busy ones get more, each up to
 * broker_depth(), and never a quarantined job or one to a worker that
 * runs one, or to one whose job has run longer than a prefetch's worth
 * (it may be stuck, or stopped).
 */
void
broker_dispatch(struct broker *b)
{
	struct bworker	*w;
	struct timespec	 now;
	int		 depth, more;

	while (b->b_nqueued > 0 && (w = TAILQ_FIRST(&b->b_idle)) != NULL)
		if (broker_give(b, w) == -1)
			return;
	if (TAILQ_EMPTY(&b->b_queue) || !TAILQ_EMPTY(&b->b_quarantine) ||
	    b->b_nidle > 0)
		return;
	depth = broker_depth(b);
	clock_now(&now);
	do {
		more = 0;
		TAILQ_FOREACH(w, &b->b_workers, w_entry) {
			if (TAILQ_EMPTY(&b->b_queue))
				return;
			if (w->w_exiting || w->w_alone ||
			    w->w_njobs >= depth ||
			    clock_ns(&w->w_since, &now) > BROKER_PREFETCH_NS)
				continue;
			if (broker_give(b, w) == -1)
				return;
			more = 1;
		}
	} while (more);
}
