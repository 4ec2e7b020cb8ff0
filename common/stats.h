/*
 * Status reports: the figures each process keeps and pushes to the
 * supervisor, which serves them on the --status listener
 * (server/status.c).  Handlers and brokers keep plain counters in their
 * own memory; there is no shared memory.  A report is one datagram on a
 * socketpair the supervisor made at start (every handler and broker
 * holds the same sending end): it carries the sender's totals since it
 * started, so a report that is dropped (the supervisor is slow, the
 * socket full) loses no count, only freshness.  Reports are sent without
 * blocking, at most every STATS_PUSH_MS while something changes, and
 * never while nothing does.
 *
 * Workers send nothing: the broker, which gives them their jobs, knows
 * what each one is doing, and reports a row per worker.
 */
#ifndef SLUA_STATS_H
#define SLUA_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define STATS_PUSH_MS	100
#define STATS_NBUCKETS	12	/* histogram bounds: stats_bounds[] */
#define STATS_MAXWORKERS 1024	/* rows in a broker's report */
#define STATS_PEERLEN	48

extern const double stats_bounds[STATS_NBUCKETS];	/* seconds */

/* A histogram: counts per bucket (not cumulative), their sum. */
struct stats_hist {
	uint64_t	 sh_count;
	uint64_t	 sh_sumns;
	uint64_t	 sh_bucket[STATS_NBUCKETS];	/* past the last: count */
};

enum stats_role {
	STATS_HANDLER = 1,
	STATS_BROKER,
};

enum stats_state {
	STATS_STARTING,		/* not at accept()/work.accept() yet */
	STATS_IDLE,
	STATS_BUSY,
};

/* Why a job failed; the labels of slua_jobs_failed_total. */
enum stats_jobfail {
	STATS_JF_TIMEOUT,	/* --job-timeout */
	STATS_JF_WORKERDIED,	/* workers died running it */
	STATS_JF_WORKERERROR,	/* the worker script raised an error */
	STATS_JF_CANNOTSTART,	/* workers cannot start */
	STATS_JF_FORWARDS,	/* forwarded too many times, or no memory */
	STATS_JF_BROKERDIED,	/* counted by handlers: the broker died */
	STATS_JF_QUEUE,		/* --queue: Redis did not take it in time */
	STATS_JF_DEAD,		/* --queue: delivered twice, no answer */
	STATS_JF_N
};

struct stats_handler {
	uint64_t		 h_accepted;
	uint64_t		 h_closed;
	uint64_t		 h_tlsfail;	/* handshakes that failed */
	uint64_t		 h_timedout;	/* cut by --handler-timeout */
	uint64_t		 h_errors;	/* the script raised an error */
	uint64_t		 h_brokerdied;	/* jobs failed: broker died */
	uint32_t		 h_held;	/* connections held (server/pending.c) */
	struct stats_hist	 h_time;	/* connection time */
	uint32_t		 h_state;	/* enum stats_state */
	int64_t			 h_since;	/* CLOCK_MONOTONIC ns */
	char			 h_peer[STATS_PEERLEN];
};

struct stats_worker {
	int32_t			 sw_pid;
	uint32_t		 sw_state;
	int64_t			 sw_since;	/* CLOCK_MONOTONIC ns */
	uint64_t		 sw_ran;	/* jobs given to it */
};

struct stats_broker {
	uint64_t		 b_submitted;
	uint64_t		 b_answered;
	uint64_t		 b_failed[STATS_JF_N];
	uint64_t		 b_retried;
	uint64_t		 b_restarts;	/* workers started again */
	uint64_t		 b_crashes;	/* workers that crashed */
	struct stats_hist	 b_time;	/* job run time */
	uint32_t		 b_queued;
	uint32_t		 b_nrows;
	/* --queue: the shared queue as Redis last said; -1: no figure
	   (no --queue, Redis not heard from, or it cannot tell) */
	int64_t			 b_qdepth;	/* not yet delivered */
	int64_t			 b_qlength;	/* entries in NAME:jobs */
	int64_t			 b_qpending;	/* delivered, no answer */
	int64_t			 b_qdead;	/* entries in NAME:dead */
	int64_t			 b_oldest;	/* CLOCK_MONOTONIC ns; 0: none */
	struct stats_worker	 b_rows[STATS_MAXWORKERS];
};

struct stats_msg {
	uint32_t		 m_role;	/* enum stats_role */
	int32_t			 m_pid;
	union {
		struct stats_handler	 u_handler;
		struct stats_broker	 u_broker;
	}			 m_u;
};

/* The sender's side: the report's pace. */
struct stats_pace {
	int			 p_fd;		/* -1: no status listener */
	int			 p_pending;	/* changed since the last */
	struct timespec		 p_last;
};

/* The supervisor's status socket's sending end, which its children
   inherit; -1: no status listener. */
extern int			 stats_fd;
extern struct stats_handler	 stats_handler;	/* a handler's figures */
extern struct stats_broker	 stats_broker;	/* a broker's (worker/bstats.c) */

int64_t	stats_clock(void);
void	stats_observe(struct stats_hist *, long long);
void	stats_merge(struct stats_hist *, const struct stats_hist *);
int	stats_due(struct stats_pace *);
int	stats_wait(struct stats_pace *);
void	stats_send(struct stats_pace *, const struct stats_msg *, size_t);
void	stats_handler_push(int);
int	stats_handler_wait(void);
void	stats_handler_init(int);
void	stats_conn_begin(const char *);
void	stats_conn_end(void);
void	stats_handler_killed(void);

#endif
