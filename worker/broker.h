/*
 * The broker: owns the job queue and the worker pool.  Its main loop is in
 * worker/broker.c, a job's life in worker/job.c, its workers' jobs and
 * answers in worker/dispatch.c, the pool's forking and
 * reaping in worker/pool.c, the worker process itself in worker/worker.c.
 */
#ifndef SLUA_BROKER_H
#define SLUA_BROKER_H

#include <sys/queue.h>
#include <sys/types.h>

#include <time.h>

#include "ipc.h"

struct config;
struct queue;
struct rjob;
struct script;

/*
 * A job the broker holds; its lifecycle is told at the top of
 * worker/job.c.  Answered and failed jobs are replied to and freed.
 */
enum job_state {
	JOB_QUEUED,		/* in b_queue or b_quarantine */
	JOB_HANDED,		/* at a worker, behind the one it runs */
	JOB_RUNNING,		/* the first of its worker's jobs */
};

struct job {
	TAILQ_ENTRY(job)	 j_entry;
	struct ipc_hdr		 j_hdr;		/* who submitted it, its id */
	enum job_state		 j_state;
	int			 j_kills;	/* workers that died running it
						   alone: its attempts */
	int			 j_alone;	/* quarantined: runs alone */
	int			 j_depth;	/* forwards that led to it */
	struct timespec		 j_deadline;	/* this run's; zero: none */
	struct timespec		 j_chain;	/* its forward chain's, set by
						   the first job; zero: none */
	int64_t			 j_queued;	/* when it came, for status */
	struct rjob		*j_rq;		/* from the shared queue, or
						   NULL (worker/queue_job.c) */
	int			 j_fd;		/* its memfd, or -1: in j_data */
	size_t			 j_len;
	char			 j_data[];
};
TAILQ_HEAD(jobq, job);

/* One end of a socketpair, with its buffers. */
struct peer {
	int			 p_fd;
	struct ipc_in		 p_in;
	struct ipc_out		 p_out;
};

/* A DONE read before the messages its worker sent ahead of it. */
struct early {
	STAILQ_ENTRY(early)	 e_entry;
	struct ipc_hdr		 e_hdr;
	struct timespec		 e_at;
};
STAILQ_HEAD(earlyq, early);

struct bworker {
	TAILQ_ENTRY(bworker)	 w_entry;	/* b_workers */
	TAILQ_ENTRY(bworker)	 w_idle;	/* b_idle, while idle */
	pid_t			 w_pid;
	struct peer		 w_peer;
	struct jobq		 w_jobs;	/* running first, then prefetched */
	int			 w_njobs;
	struct timespec		 w_since;	/* when the first one started,
						   or, idle, when it was idle */
	unsigned long		 w_ran;		/* jobs given to it */
	int			 w_exiting;	/* said it exits, or killed for
						   a deadline: no more jobs */
	int			 w_said;	/* it said it exits: of its
						   jobs, only the first ... */
	int			 w_saidrunning;	/* ... may have run: did it? */
	int			 w_ready;	/* its script reached accept() */
	int			 w_startfail;	/* it said why it cannot start */
	int			 w_killed;	/* killed for its job's deadline */
	int			 w_alone;	/* runs a quarantined job */
	struct timespec		 w_started;
	struct earlyq		 w_early;	/* in the order they came */
	int			 w_nearly;
};
TAILQ_HEAD(bworkerq, bworker);

struct broker {
	struct config		*b_cf;
	const struct script	*b_script;	/* the worker script */
	int			 b_sigfd;
	struct peer		*b_slots;	/* one per handler slot */
	int			 b_nslots;
	struct bworkerq		 b_workers;
	struct bworkerq		 b_idle;
	int			 b_nworkers;
	int			 b_nidle;
	struct jobq		 b_queue;	/* waiting for a worker */
	struct jobq		 b_quarantine;	/* ... to run alone */
	int			 b_nqueued;	/* in both */
	unsigned long long	 b_done;	/* jobs answered or failed */
	int			 b_stopping;	/* TERM: finish, then exit */
	struct timespec		 b_deadline;	/* ... at the latest by */
	long long		 b_jobns;	/* average job run time, ns */
	struct ipc_batch	 b_batch;	/* for recvmmsg(2) */
	int			 b_backoff;	/* ms before the next fork */
	struct timespec		 b_spawnat;	/* no fork before */
	int			 b_startfails;	/* workers in a row that died
						   before accept() */
	int			 b_broken;	/* ... enough: jobs fail */
	int			 b_readyfd;	/* to the supervisor: "ready"
						   or why not, once; or -1 */
	char			 b_starterr[1024]; /* the last one's why */
	struct queue		*b_shared;	/* --queue, or NULL */
	int			 b_donefd;	/* workers' IPC_DONE, shared */
	int			 b_donewr;	/* ... the end workers send on */
	int			 b_indone;	/* reading it now */
	struct timespec		 b_lazy;	/* ... until then, DONEs may
						   wait for the next job */
};

pid_t	broker_start(struct config *, const struct script *, int *, int, int);
void	broker_tell(struct broker *, const char *);
int	broker_verdict(int *, char *, size_t);
void	broker_reply(struct broker *, struct job *, int, int, const char *,
	    size_t);
void	broker_answer(struct broker *, struct job *, int, int,
	    const struct ipc_msg *);
void	broker_stats(struct broker *, struct ipc_out *, const struct ipc_hdr *);

/* worker/dispatch.c */
void	broker_dispatch(struct broker *);
void	broker_readworker(struct broker *, struct bworker *, int);
void	broker_readdone(struct broker *);
void	broker_forgetearly(struct bworker *);
int	broker_wantdone(struct broker *, long long *);

/* worker/job.c */
struct job *job_new(const struct ipc_hdr *, const struct ipc_msg *);
void	job_free(struct job *);
void	job_enqueue(struct broker *, struct job *, int);
void	job_quarantine(struct broker *, struct job *);
void	job_fail(struct broker *, struct job *, const char *);
void	job_failall(struct broker *);
void	job_started(struct broker *, struct bworker *,
	    const struct timespec *);
void	job_expire(struct broker *);
long long job_nextkill(struct broker *);
void	job_forward(struct broker *, struct job *, const struct ipc_msg *);

void	pool_fill(struct broker *);
void	pool_reap(struct broker *);
void	pool_idle(struct broker *, struct bworker *);
void	pool_stop(struct broker *);
int	pool_spawndelay(struct broker *);

/* worker/bstats.c */
void	bstats_init(int);
void	bstats_push(struct broker *);
int	bstats_wait(void);

void	worker_main(struct config *, const struct script *, int, pid_t)
	    __attribute__((noreturn));

#endif
