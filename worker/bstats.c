/*
 * The broker's status report (common/stats.h): its counters, which the
 * broker's loop and the job's life bump as things happen, and, built
 * only when a report goes, the queue and a row per worker.
 */
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "queue.h"
#include "stats.h"
#include "util.h"

struct stats_broker	 stats_broker;
static struct stats_pace bpace = { .p_fd = -1 };

static int64_t
bstats_ns(const struct timespec *ts)
{
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void
bstats_fill(struct broker *b)
{
	struct stats_broker	*sb = &stats_broker;
	struct stats_worker	*row;
	struct bworker		*w;
	struct job		*j;
	uint32_t		 n = 0;

	sb->b_queued = b->b_nqueued;
	sb->b_oldest = 0;
	/* A job back from a worker goes first: the oldest is at a head. */
	if ((j = TAILQ_FIRST(&b->b_queue)) != NULL)
		sb->b_oldest = j->j_queued;
	if ((j = TAILQ_FIRST(&b->b_quarantine)) != NULL &&
	    (sb->b_oldest == 0 || j->j_queued < sb->b_oldest))
		sb->b_oldest = j->j_queued;
	TAILQ_FOREACH(w, &b->b_workers, w_entry) {
		if (n == STATS_MAXWORKERS)
			break;
		row = &sb->b_rows[n++];
		row->sw_pid = w->w_pid;
		row->sw_state = !w->w_ready ? STATS_STARTING :
		    w->w_njobs > 0 ? STATS_BUSY : STATS_IDLE;
		row->sw_since = bstats_ns(w->w_ready ? &w->w_since :
		    &w->w_started);
		row->sw_ran = w->w_ran;
	}
	sb->b_nrows = n;
	if (b->b_shared != NULL)
		queue_stats(b, sb);
	else
		sb->b_qdepth = sb->b_qlength = sb->b_qpending =
		    sb->b_qdead = -1;
}

void
bstats_init(int fd)
{
	bpace.p_fd = fd;
}

/* Something happened: report, if a report is due. */
void
bstats_push(struct broker *b)
{
	static struct stats_msg	 m;	/* large: in bss, not on a stack */

	bpace.p_pending = 1;
	if (!stats_due(&bpace))
		return;
	bstats_fill(b);
	m.m_role = STATS_BROKER;
	m.m_pid = getpid();
	m.m_u.u_broker = stats_broker;
	stats_send(&bpace, &m, offsetof(struct stats_msg, m_u.u_broker.b_rows) +
	    stats_broker.b_nrows * sizeof(struct stats_worker));
}

/* For the broker's poll: ms until a pending report, or -1. */
int
bstats_wait(void)
{
	return stats_wait(&bpace);
}
