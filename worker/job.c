/*
 * A job's life, which the broker (worker/broker.c) owns: made from a
 * handler's message, queued, handed to a worker, run, answered or failed.
 *
 * How a job lives (struct job; slua(1), FAILURES, tells the same):
 *
 *	queued	 in b_queue, or in b_quarantine when it must run alone.
 *	handed	 given to a worker behind the job that worker runs
 *		 (prefetch, only while no worker is idle, never to a worker
 *		 that runs a quarantined job).  Not started.
 *	running	 the first job its worker holds: the worker is taken to
 *		 have started it when it was given to it idle, or when the
 *		 answer before it left (a DONE says when, worker/dispatch.c).  With --job-timeout T its run ends
 *		 by its deadline, start + T, or the deadline of the forward
 *		 chain it belongs to, whichever is first; grace seconds (and
 *		 a little) past it the broker kills the worker and fails the
 *		 job "job timed out", whatever the worker is doing.
 *	answered the worker's answer or error went to the submitter:
 *		 through the broker, or straight from the worker, which
 *		 then says IPC_DONE (lua/work_direct.c), which the broker may
 *		 read a little later (worker/dispatch.c).
 *	failed	 the broker's error went to the submitter: "job timed out",
 *		 "job failed: 2 workers died running it (...)", "worker
 *		 cannot start: ...", "job forwarded more than N times".
 *
 * A worker sends everything it answered before it exits (lua/work_worker.c),
 * and the broker reads it all before it looks at a dead worker's jobs
 * (worker/pool.c).  Then only the jobs still unanswered are left, and the
 * broker does not guess which of them killed the worker.  A worker that
 * exits by os.exit() says which job it was running: that one is charged an
 * attempt.  Of a worker that said nothing, a job alone is charged; several
 * all go to quarantine uncharged, to run one per worker without prefetch,
 * where a death can be charged again.  The jobs a worker never started (it
 * never reached accept(), or they waited behind the one it ran, or it was
 * killed for a deadline) go back to the queue as they were.  A job charged
 * twice fails.  A worker killed between an answer sent straight to its
 * handler and the DONE leaves a job that runs again: the submitter drops
 * the second answer (it is no longer pending there), so it still sees one.
 *
 * Workers that die before they reach accept() POOL_STARTFAILS times in a
 * row leave the broker "broken": every queued and new job fails with
 * "worker cannot start: <why>" while the pool keeps trying, with back-off,
 * until a worker reaches accept() again.
 */
#include <sys/time.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "stats.h"
#include "queue.h"
#include "util.h"

#define JOB_MAXFORWARD		16	/* forwards in one chain */
#define JOB_KILLSLACK_MS	500	/* past deadline and grace: kill */

/* A job of message m's payload (its bytes, or its memfd, taken over). */
struct job *
job_new(const struct ipc_hdr *h, const struct ipc_msg *m)
{
	struct job	*j;
	size_t		 copy = m->m_fd == -1 ? m->m_len : 0;

	if ((j = malloc(sizeof(*j) + copy)) == NULL) {
		log_warn("job");
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		return NULL;
	}
	memset(j, 0, sizeof(*j));
	j->j_hdr = *h;
	j->j_hdr.h_type = IPC_JOB;
	j->j_hdr.h_flags = 0;
	j->j_state = JOB_QUEUED;
	j->j_queued = stats_clock();
	j->j_fd = m->m_fd;
	j->j_len = m->m_len;
	if (copy > 0)
		memcpy(j->j_data, m->m_data, copy);
	return j;
}

void
job_free(struct job *j)
{
	if (j->j_fd != -1)
		(void)close(j->j_fd);
	if (j->j_rq != NULL)
		queue_rjobfree(j->j_rq);
	free(j);
}

/* Queue j, at the front when it comes back from a worker. */
void
job_enqueue(struct broker *b, struct job *j, int first)
{
	j->j_state = JOB_QUEUED;
	timespecclear(&j->j_deadline);
	if (first)
		TAILQ_INSERT_HEAD(&b->b_queue, j, j_entry);
	else
		TAILQ_INSERT_TAIL(&b->b_queue, j, j_entry);
	b->b_nqueued++;
}

/* Queue j to run alone: it was at a worker that died. */
void
job_quarantine(struct broker *b, struct job *j)
{
	j->j_state = JOB_QUEUED;
	j->j_alone = 1;
	timespecclear(&j->j_deadline);
	TAILQ_INSERT_HEAD(&b->b_quarantine, j, j_entry);
	b->b_nqueued++;
}

void
job_fail(struct broker *b, struct job *j, const char *msg)
{
	broker_reply(b, j, IPC_ERROR, 0, msg, strlen(msg));
	job_free(j);
	b->b_done++;
}

/* Workers cannot start: every queued job fails, saying why. */
void
job_failall(struct broker *b)
{
	struct jobq	*q[] = { &b->b_quarantine, &b->b_queue };
	struct job	*j;
	char		 msg[sizeof(b->b_starterr) + 32];
	size_t		 i;

	(void)snprintf(msg, sizeof(msg), "worker cannot start: %s",
	    b->b_starterr);
	for (i = 0; i < sizeof(q) / sizeof(q[0]); i++)
		while ((j = TAILQ_FIRST(q[i])) != NULL) {
			TAILQ_REMOVE(q[i], j, j_entry);
			b->b_nqueued--;
			stats_broker.b_failed[STATS_JF_CANNOTSTART]++;
			job_fail(b, j, msg);
		}
}

/* w's first job starts now: its clock runs. */
void
job_started(struct broker *b, struct bworker *w, const struct timespec *at)
{
	struct job	*j = TAILQ_FIRST(&w->w_jobs);

	if (at != NULL)
		w->w_since = *at;
	else
		clock_now(&w->w_since);
	j->j_state = JOB_RUNNING;
	if (b->b_cf->cf_job_timeout > 0) {
		j->j_deadline = w->w_since;
		clock_add(&j->j_deadline, b->b_cf->cf_job_timeout * 1000LL);
	}
}

/* The forward chain j starts or continues: its deadline. */
static const struct timespec *
job_chain(const struct job *j)
{
	return timespecisset(&j->j_chain) ? &j->j_chain : &j->j_deadline;
}

/*
 * When the broker kills w for its running job's deadline, in ms from
 * now (0: now), or -1 when there is none.
 */
static long long
job_killin(struct broker *b, struct bworker *w, const struct timespec *now)
{
	const struct job	*j = TAILQ_FIRST(&w->w_jobs);
	const struct timespec	*at;
	long long		 ms;

	if (j == NULL || w->w_killed || !timespecisset(&j->j_deadline))
		return -1;
	at = &j->j_deadline;
	if (timespecisset(&j->j_chain) && timespeccmp(&j->j_chain, at, <))
		at = &j->j_chain;
	ms = clock_ms(now, at) + b->b_cf->cf_grace * 1000LL +
	    JOB_KILLSLACK_MS;
	return ms < 0 ? 0 : ms;
}

/*
 * A running job past its deadline and grace: whatever its worker does
 * (stopped, stuck in C, ignoring signals), the job fails and the worker
 * is killed.  The jobs handed to it behind this one go back to the queue
 * when it is reaped.
 */
void
job_expire(struct broker *b)
{
	struct bworker	*w;
	struct job	*j;
	struct timespec	 now;
	int		 read = 0;

	if (b->b_cf->cf_job_timeout <= 0)
		return;
	clock_now(&now);
 again:
	TAILQ_FOREACH(w, &b->b_workers, w_entry) {
		if (job_killin(b, w, &now) != 0)
			continue;
		/* It may have answered, its DONE not read yet. */
		if (!read++) {
			broker_readdone(b);
			goto again;
		}
		j = TAILQ_FIRST(&w->w_jobs);
		log_warnx("worker %d: job %llu past its deadline: killed",
		    (int)w->w_pid, (unsigned long long)j->j_hdr.h_id);
		TAILQ_REMOVE(&w->w_jobs, j, j_entry);
		w->w_njobs--;
		stats_broker.b_failed[STATS_JF_TIMEOUT]++;
		job_fail(b, j, "job timed out");
		w->w_killed = 1;
		w->w_exiting = 1;
		(void)kill(-w->w_pid, SIGKILL);	/* and what its job started */
	}
}

/* The earliest kill for a deadline, in ms, or -1. */
long long
job_nextkill(struct broker *b)
{
	struct bworker	*w;
	struct timespec	 now;
	long long	 ms, min = -1;

	if (b->b_cf->cf_job_timeout <= 0)
		return -1;
	clock_now(&now);
	TAILQ_FOREACH(w, &b->b_workers, w_entry)
		if ((ms = job_killin(b, w, &now)) != -1 &&
		    (min == -1 || ms < min))
			min = ms;
	return min;
}

/*
 * The new job answers the old one's submitter, within the old one's
 * deadline: a chain has the deadline of the job that began it.
 */
void
job_forward(struct broker *b, struct job *j, const struct ipc_msg *m)
{
	struct job	*fwd;
	char		 msg[64];

	if (j->j_depth >= JOB_MAXFORWARD) {
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		(void)snprintf(msg, sizeof(msg), "job forwarded more than %d "
		    "times", JOB_MAXFORWARD);
		broker_reply(b, j, IPC_ERROR, 0, msg, strlen(msg));
		stats_broker.b_failed[STATS_JF_FORWARDS]++;
		return;
	}
	if ((fwd = job_new(&j->j_hdr, m)) == NULL) {
		stats_broker.b_failed[STATS_JF_FORWARDS]++;
		broker_reply(b, j, IPC_ERROR, 0, "not enough memory", 17);
		return;
	}
	/* The chain's last answer goes where the first job came from. */
	fwd->j_rq = j->j_rq;
	j->j_rq = NULL;
	fwd->j_depth = j->j_depth + 1;
	fwd->j_chain = *job_chain(j);
	job_enqueue(b, fwd, 0);
}

