/*
 * The worker pool: the broker forks its workers, so it learns of a death
 * first-hand (SIGCHLD).  What becomes of the dead worker's jobs is told at
 * the top of worker/job.c.  Workers that die before their script reaches
 * accept() are restarted with a growing back-off, so a broken script
 * cannot make the pool spin; POOL_STARTFAILS of them in a row fail the
 * queue.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "stats.h"
#include "util.h"
#include "work.h"

#define POOL_YOUNG_MS	1000	/* dying younger than this is a crash loop */
#define POOL_BACKOFF_MS	100
#define POOL_MAXBACK_MS	10000
#define POOL_KILLS	2	/* workers a job may kill before it fails */
#define POOL_STARTFAILS	3	/* workers in a row that cannot start */

void
pool_idle(struct broker *b, struct bworker *w)
{
	TAILQ_INSERT_TAIL(&b->b_idle, w, w_idle);
	b->b_nidle++;
	clock_now(&w->w_since);
}

/*
 * In a new worker: keep stdio, our end of the socket as fd 3, and the
 * broker's end of each handler slot, on which the worker answers jobs
 * straight to their handlers (lua/work_direct.c); close the rest.
 */
static void
pool_childfds(struct broker *b, int fd)
{
	int	*slots, *keep, i, n = 1, done;

	slots = reallocarray(NULL, b->b_nslots + 1, sizeof(*slots));
	keep = reallocarray(NULL, b->b_nslots + 2, sizeof(*keep));
	if (slots == NULL || keep == NULL)
		fatal("worker");
	/*
	 * Above 3 first, so that dup2 below cannot close one.  Past the
	 * descriptor limit a slot's answers go through the broker.
	 */
	for (i = 0; i < b->b_nslots; i++) {
		slots[i] = fcntl(b->b_slots[i].p_fd, F_DUPFD_CLOEXEC, 4);
		if (slots[i] != -1)
			keep[n++] = slots[i];
	}
	/* Without it, every DONE goes the broker's way, in order. */
	done = fcntl(b->b_donewr, F_DUPFD_CLOEXEC, 4);
	if (done != -1)
		keep[n++] = done;
	if (dup2(fd, 3) == -1)
		fatal("dup2");
	keep[0] = 3;
	fd_keep(keep, n);			/* sorts keep */
	free(keep);
	work_direct_init(slots, b->b_nslots, done);	/* slots is its now */
}

static int
pool_spawn(struct broker *b)
{
	struct bworker	*w;
	pid_t		 pid, broker = getpid();
	int		 sv[2];

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warn("worker");
		return -1;
	}
	if (ipc_socketpair(sv) == -1) {
		log_warn("socketpair");
		free(w);
		return -1;
	}
	if ((pid = fork()) == -1) {
		log_warn("fork");
		(void)close(sv[0]);
		(void)close(sv[1]);
		free(w);
		return -1;
	}
	if (pid == 0) {
		free(w);		/* the broker's record of the child */
		/* A kill for a deadline ends what the job started too. */
		proc_ownedgroup();
		pool_childfds(b, sv[1]);
		worker_main(b->b_cf, b->b_script, 3, broker);
	}
	(void)close(sv[1]);
	(void)setpgid(pid, pid);	/* whichever of us is first */
	w->w_pid = pid;
	TAILQ_INIT(&w->w_jobs);
	STAILQ_INIT(&w->w_early);
	w->w_peer.p_fd = sv[0];
	if (ipc_in_init(&w->w_peer.p_in, sv[0], b->b_cf->cf_max_job_size) ==
	    -1)
		fatal("worker");
	ipc_out_init(&w->w_peer.p_out, sv[0]);
	clock_now(&w->w_started);
	TAILQ_INSERT_TAIL(&b->b_workers, w, w_entry);
	b->b_nworkers++;
	pool_idle(b, w);
	log_debug("worker %d started", (int)pid);
	return 0;
}

/* Start workers until the pool is full, unless backing off. */
void
pool_fill(struct broker *b)
{
	struct timespec	 now;

	if (b->b_stopping)
		return;
	while (b->b_nworkers < b->b_cf->cf_workers) {
		if (b->b_backoff > 0) {
			clock_now(&now);
			if (clock_ms(&now, &b->b_spawnat) > 0)
				return;
		}
		if (pool_spawn(b) == -1) {
			b->b_backoff = POOL_MAXBACK_MS;
			clock_now(&b->b_spawnat);
			clock_add(&b->b_spawnat, b->b_backoff);
			return;
		}
	}
}

/* Milliseconds until pool_fill() has a worker to start, or -1. */
int
pool_spawndelay(struct broker *b)
{
	struct timespec	 now;
	long long	 ms;

	if (b->b_stopping || b->b_nworkers >= b->b_cf->cf_workers)
		return -1;
	clock_now(&now);
	ms = clock_ms(&now, &b->b_spawnat);
	return ms < 0 ? 0 : (int)ms;
}

static void
pool_jobdied(struct broker *b, struct job *j, const char *how)
{
	char	 msg[128];
	int	 n;

	if (++j->j_kills < POOL_KILLS) {
		log_warnx("job %llu lost its worker (%s): running it again",
		    (unsigned long long)j->j_hdr.h_id, how);
		job_quarantine(b, j);
		stats_broker.b_retried++;
		return;
	}
	stats_broker.b_failed[STATS_JF_WORKERDIED]++;
	n = snprintf(msg, sizeof(msg), "job failed: %d workers died running "
	    "it (last %s)", j->j_kills, how);
	log_warnx("job %llu failed: %d workers died running it",
	    (unsigned long long)j->j_hdr.h_id, j->j_kills);
	broker_reply(b, j, IPC_ERROR, 0, msg, n > 0 ? (size_t)n : 0);
	job_free(j);
	b->b_done++;
}

/*
 * A dead worker's unanswered jobs (all it answered has been read).  A job
 * is charged the death when its worker said it was running it, or when it
 * was alone at a worker that said nothing; several at a worker that said
 * nothing are not told apart but go to quarantine, each to run alone.  The
 * others never started: a worker that never reached accept(), or was
 * killed for a deadline, or said so.  They go back to the queue.
 */
static void
pool_jobsback(struct broker *b, struct bworker *w, const char *how)
{
	struct job	*j, *charged = NULL;
	int		 unknown;

	if (w->w_njobs == 0) {
		if (!w->w_exiting) {
			TAILQ_REMOVE(&b->b_idle, w, w_idle);
			b->b_nidle--;
		}
		return;
	}
	unknown = w->w_ready && !w->w_killed && !w->w_said;
	if ((unknown && w->w_njobs == 1) || (w->w_said && w->w_saidrunning &&
	    !w->w_killed)) {
		charged = TAILQ_FIRST(&w->w_jobs);
		TAILQ_REMOVE(&w->w_jobs, charged, j_entry);
	}
	while ((j = TAILQ_LAST(&w->w_jobs, jobq)) != NULL) {
		TAILQ_REMOVE(&w->w_jobs, j, j_entry);
		if (unknown || j->j_alone)
			job_quarantine(b, j);
		else
			job_enqueue(b, j, 1);
	}
	w->w_njobs = 0;
	if (charged != NULL)
		pool_jobdied(b, charged, how);
}

/*
 * A worker died before its script reached accept(): one more in a row.
 * Enough of them fail the queue until one starts.
 */
static void
pool_startfailed(struct broker *b, struct bworker *w, const char *how)
{
	if (!w->w_startfail)
		(void)snprintf(b->b_starterr, sizeof(b->b_starterr), "%s",
		    how);
	if (++b->b_startfails < POOL_STARTFAILS || b->b_broken)
		return;
	b->b_broken = 1;
	log_warnx("workers cannot start (%s): jobs fail until one does",
	    b->b_starterr);
	broker_tell(b, b->b_starterr);
}

static void
pool_died(struct broker *b, struct bworker *w, int status)
{
	struct timespec	 now;
	char		 how[64];

	/* Its last answers may still be in the sockets, DONEs first. */
	broker_readdone(b);
	broker_readworker(b, w, 1);

	if (WIFSIGNALED(status))
		(void)snprintf(how, sizeof(how), "killed by signal %d",
		    WTERMSIG(status));
	else
		(void)snprintf(how, sizeof(how), "exit status %d",
		    WEXITSTATUS(status));
	if (!b->b_stopping) {
		log_warnx("worker %d died: %s", (int)w->w_pid, how);
		stats_broker.b_restarts++;
		if (WIFSIGNALED(status) ? WTERMSIG(status) != SIGKILL &&
		    WTERMSIG(status) != SIGTERM && WTERMSIG(status) != SIGINT &&
		    WTERMSIG(status) != SIGHUP : WEXITSTATUS(status) != 0)
			stats_broker.b_crashes++;
	}

	pool_jobsback(b, w, how);
	TAILQ_REMOVE(&b->b_workers, w, w_entry);
	b->b_nworkers--;

	clock_now(&now);
	/* Killed from outside (SIGKILL, the OOM killer) is no crash loop. */
	if (!w->w_ready && !b->b_stopping &&
	    !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL))
		pool_startfailed(b, w, how);
	if (!w->w_ready && clock_ms(&w->w_started, &now) < POOL_YOUNG_MS &&
	    !(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
		b->b_backoff = b->b_backoff ? b->b_backoff * 2 :
		    POOL_BACKOFF_MS;
		if (b->b_backoff > POOL_MAXBACK_MS)
			b->b_backoff = POOL_MAXBACK_MS;
		b->b_spawnat = now;
		clock_add(&b->b_spawnat, b->b_backoff);
		if (!b->b_stopping)
			log_warnx("worker died at start: next in %d ms",
			    b->b_backoff);
	} else if (clock_ms(&w->w_started, &now) >= POOL_YOUNG_MS)
		b->b_backoff = 0;

	broker_forgetearly(w);
	ipc_in_clear(&w->w_peer.p_in);
	ipc_out_clear(&w->w_peer.p_out);
	(void)close(w->w_peer.p_fd);
	free(w);
}

void
pool_reap(struct broker *b)
{
	struct bworker	*w;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(w, &b->b_workers, w_entry)
			if (w->w_pid == pid)
				break;
		if (w != NULL)
			pool_died(b, w, status);
	}
}

/* Stop every worker: TERM, then KILL whoever is still there after 1 s. */
void
pool_stop(struct broker *b)
{
	struct bworker	*w;
	int		 i;

	b->b_stopping = 1;
	TAILQ_FOREACH(w, &b->b_workers, w_entry)
		(void)kill(w->w_pid, SIGTERM);
	for (i = 0; i < 100 && b->b_nworkers > 0; i++) {
		pool_reap(b);
		if (b->b_nworkers > 0)
			(void)usleep(10000);
	}
	TAILQ_FOREACH(w, &b->b_workers, w_entry)
		(void)kill(-w->w_pid, SIGKILL);
	while (b->b_nworkers > 0 && waitpid(-1, NULL, 0) > 0)
		pool_reap(b);
}
