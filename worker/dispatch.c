/*
 * The broker's side of its workers: which worker gets which queued job
 * (broker_dispatch), and what a worker sends back (broker_readworker):
 * answers and errors, which go on to the submitter; IPC_DONE for an
 * answer the worker sent its handler itself (lua/work_direct.c); forwards;
 * and what it says of itself (ready, cannot start, exiting).  A worker
 * answers its jobs in the order it was given them, so each message is for
 * the first job the worker holds.
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

/*
 * The worker's running job is done, one way or another: the next one it
 * holds starts, or it is idle.  The run time feeds the prefetch depth.
 */
static void
broker_jobdone(struct broker *b, struct bworker *w)
{
	struct job	*j = TAILQ_FIRST(&w->w_jobs);
	struct timespec	 now;
	long long	 ns;

	TAILQ_REMOVE(&w->w_jobs, j, j_entry);
	job_free(j);
	b->b_done++;
	w->w_alone = 0;
	clock_now(&now);
	if ((ns = clock_ns(&w->w_since, &now)) < 0)
		ns = 0;
	b->b_jobns = b->b_jobns ? (7 * b->b_jobns + ns) / 8 : ns;
	stats_observe(&stats_broker.b_time, ns);
	if (--w->w_njobs > 0)
		job_started(b, w);
	else if (!w->w_exiting)
		pool_idle(b, w);
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

static void
broker_fromworker(struct broker *b, struct bworker *w, const struct ipc_msg *m)
{
	struct job	*j = TAILQ_FIRST(&w->w_jobs);
	const struct ipc_hdr *h = &m->m_hdr;

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
	/* A worker answers its jobs in the order it was given them. */
	if (j == NULL || j->j_hdr.h_id != h->h_id ||
	    j->j_hdr.h_pid != h->h_pid || j->j_hdr.h_slot != h->h_slot ||
	    (h->h_type != IPC_ANSWER && h->h_type != IPC_ERROR &&
	    h->h_type != IPC_FORWARD && h->h_type != IPC_DONE) ||
	    (h->h_type == IPC_DONE && j->j_rq != NULL)) {
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
	broker_jobdone(b, w);
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
	j->j_state = JOB_HANDED;
	TAILQ_INSERT_TAIL(&w->w_jobs, j, j_entry);
	if (w->w_njobs++ == 0) {
		TAILQ_REMOVE(&b->b_idle, w, w_idle);
		b->b_nidle--;
		job_started(b, w);
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
