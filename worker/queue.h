/*
 * The shared job queue on Redis Streams (--queue).  The broker is the only
 * process that talks to Redis; handlers and workers keep their sockets.
 * worker/queue_redis.c holds the connections, worker/queue_submit.c the
 * submitting side, worker/queue_job.c the working side; how a job lives
 * is told at the top of those two.
 *
 * The broker calls in at these points only, so the local queue's path is
 * the same with or without --queue.
 */
#ifndef SLUA_QUEUE_H
#define SLUA_QUEUE_H

#include <sys/queue.h>

#include <poll.h>
#include <stdint.h>
#include <time.h>

#include <hiredis/async.h>

#include "ipc.h"

struct broker;
struct job;
struct config;
struct stats_broker;

/* commands, job reads, reply reads; and a question to a sentinel */
#define QUEUE_NCONN	4
#define QUEUE_BLOCK_MS	"1000"		/* a blocking read's wait */
/* A dead letter's error, which its submitter counts (STATS_JF_DEAD). */
#define QUEUE_DEAD_MSG	"job failed: delivered twice without an " \
			"answer (its hosts died or stopped)"

/* Where a connection's replies are made (worker/queue_reply.c). */
struct qarena {
	char			*ra_base;	/* the block kept */
	size_t			 ra_size;
	char			*ra_cur;	/* the next object */
	size_t			 ra_left;	/* ... and room after it */
	size_t			 ra_used;	/* by the reply being read */
	struct qrblock		*ra_more;	/* blocks past the first */
};

/* One connection to Redis and what the broker's poll() waits for on it. */
struct qconn {
	redisAsyncContext	*qc_ac;		/* NULL: down */
	struct qarena		 qc_arena;
	struct queue		*qc_q;
	int			 qc_role;	/* QC_* */
	int			 qc_off;	/* not needed here */
	int			 qc_up;		/* connected, said hello */
	int			 qc_rd, qc_wr;	/* hiredis wants these */
	int			 qc_reading;	/* a blocking read is out */
	int			 qc_backoff;	/* ms before the next try */
	struct timespec		 qc_retry;	/* no connect before */
};
enum { QC_CMD, QC_JOBS, QC_REPLY, QC_SENTINEL };

/*
 * Fast jobs travel several to an entry of the jobs stream: about
 * QUEUE_HOLD_NS of work at the run time the answering hosts last told
 * (1 to QUEUE_PACKJOBS jobs; one until a host has told), so that Redis's
 * cost, which goes by entries, is shared while a host is never given
 * more than a worker's hold at once.
 */
#define QUEUE_HOLD_NS		2000000LL	/* work held per worker */
#define QUEUE_PACKJOBS		32		/* jobs an entry, at most */
#define QUEUE_PACKMAX		(1024 * 1024)	/* bytes an entry, but one
						   job's */

/* A job this broker submitted, until its answer comes or it fails. */
struct qsub {
	LIST_ENTRY(qsub)	 s_hash;	/* q_subs, by s_seq */
	TAILQ_ENTRY(qsub)	 s_entry;	/* q_order, by deadline */
	TAILQ_ENTRY(qsub)	 s_send;	/* q_tosend, while s_tosend */
	uint64_t		 s_seq;
	struct ipc_hdr		 s_hdr;		/* the handler's */
	struct timespec		 s_deadline;
	int			 s_acked;	/* Redis has it */
	int			 s_sent;	/* XADD out, no reply yet */
	int			 s_tosend;	/* waits for the next XADD */
	char			*s_data;	/* until acked, or s_small */
	size_t			 s_len;
	char			 s_small[];	/* a small job, kept in one */
};
#define QUEUE_SMALLJOB		512	/* bytes a qsub holds itself */
LIST_HEAD(qsubl, qsub);
#define QUEUE_HASH	4096		/* q_subs buckets */
TAILQ_HEAD(qsubq, qsub);

/* What a job read from the stream carries, besides its bytes. */
struct rjob {
	struct queue		*r_q;
	struct rentry		*r_e;		/* its entry */
	uint64_t		 r_seq;		/* the submitter's number */
	int			 r_answered;
};

/*
 * An entry of the jobs stream this broker was given, until Redis has its
 * acknowledgement (worker/queue_entry.c): that goes only once every job
 * of the entry has its answer in Redis, or in the same MULTI/EXEC.
 */
struct rentry {
	TAILQ_ENTRY(rentry)	 e_link;	/* q_entries */
	TAILQ_ENTRY(rentry)	 e_acklink;	/* q_acks, while e_ackq */
	char			 e_id[48];
	char			*e_reply;	/* the submitter's stream */
	int			 e_jobs;	/* its jobs here, not yet done */
	int			 e_unsure;	/* its answers not yet in Redis */
	int			 e_inbatch;	/* ... in the batch being made */
	int			 e_acking;	/* its XACK is on its way */
	int			 e_ackq;	/* waits for an XACK of its own */
	int			 e_lost;	/* a job ended unanswered: the
						   entry waits for a claim */
	struct rjob		 e_rj[];	/* its jobs; then e_reply */
};
TAILQ_HEAD(rentryq, rentry);

/* An answer on its way into Redis: MULTI, XADD, EXPIRE, XACK, EXEC. */
struct qans {
	TAILQ_ENTRY(qans)	 a_entry;	/* q_answers, until sent */
	struct rentry		*a_e;		/* the job's entry */
	uint64_t		 a_seq;
	int			 a_kind;
	int			 a_sent;	/* QANS_*, as its batch goes */
	char			*a_job;		/* dead letter: the job, or */
	size_t			 a_joblen;	/* NULL */
	size_t			 a_len;
	char			 a_data[];
};
TAILQ_HEAD(qansq, qans);
enum { QANS_NEW, QANS_NOW, QANS_SENT };

struct queue {
	struct broker		*q_b;
	struct qconn		 q_conn[QUEUE_NCONN];
	/* where */
	char			*q_host;	/* or NULL: q_path */
	char			*q_path;
	int			 q_port;
	char			*q_user, *q_pass;
	int			 q_db;
	struct qsentinel	*q_sentinel;	/* NULL: the URL names Redis */
	char			*q_fmt;		/* a command, formatted */
	size_t			 q_fmtcap;
	/* the keys */
	char			 q_jobs[80];	/* NAME:jobs */
	char			 q_dead[80];	/* NAME:dead */
	char			 q_group[72];	/* NAME */
	char			 q_me[128];	/* this broker: consumer */
	char			 q_reply[224];	/* NAME:reply:<me> */
	char			 q_lastreply[48];
	int			 q_untrimmed;	/* answers read since XTRIM */
	/* submitting */
	struct qsubl		 q_subs[QUEUE_HASH];
	struct qsubq		 q_order;
	struct qsubq		 q_tosend;
	long long		 q_jobns;	/* a job's run time, as told */
	char			*q_pack;	/* an entry's jobs, packed */
	size_t			 q_packcap;
	int			 q_nsubs;
	int			 q_unacked;
	uint64_t		 q_seq;
	struct timespec		 q_expiry;	/* next deadline check */
	/* working */
	struct rentryq		 q_entries;	/* given here, not yet acked */
	struct rentryq		 q_acks;	/* to ack, answers in Redis */
	int			 q_nacks;
	int			 q_nacking;	/* XACKs on their way */
	char			*q_ansbuf;	/* a reply entry's answers */
	size_t			 q_ansbufcap;
	int			 q_nheld;	/* their jobs not yet done */
	int			 q_perentry;	/* jobs an entry read, x16 */
	int			 q_drained;	/* q_nheld when none waited */
	uint64_t		 q_localid;	/* remote jobs' h_id here */
	struct qansq		 q_answers;	/* waiting for a connection */
	int			 q_nanswers;	/* out, not yet EXEC'd */
	int			 q_grouped;	/* XGROUP CREATE done */
	int			 q_grouping;	/* ... out */
	int			 q_recover;	/* reread our pending entries */
	struct timespec		 q_claimat;	/* next look at the PEL */
	long long		 q_claimms;	/* idle before a claim */
	int			 q_claiming;	/* XPENDING out */
	/* stats */
	long long		 q_lag;		/* undelivered, last seen */
	long long		 q_addedsince;	/* jobs added since */
	struct timespec		 q_statat;	/* next look */
	/* for --status, as Redis last said; -1: unknown */
	long long		 q_depth;	/* the group's lag */
	long long		 q_length;	/* XLEN NAME:jobs */
	long long		 q_pending;	/* the group's PEL */
	long long		 q_deadlen;	/* XLEN NAME:dead */
};

/* worker/queue_redis.c */
int	queue_check(const char *, char *, size_t);
struct queue *queue_open(struct broker *);
int	queue_pollfds(struct queue *, struct pollfd *);
void	queue_events(struct queue *, const struct pollfd *, int);
void	queue_write(struct queue *);
void	queue_connect(struct queue *);
void	queue_attach(struct qconn *, redisAsyncContext *);
void	queue_drop(struct queue *);
int	queue_up(struct queue *, int);
char	*queue_decimal(char *, uint64_t);
int	queue_cmd(struct queue *, int, redisCallbackFn *, void *, int,
	    const char **, const size_t *);
long long queue_retryin(struct queue *);
const struct redisReply *queue_field(const struct redisReply *,
	    const char *);

/* worker/queue_reply.c */
void	queue_arena_use(struct qarena *, redisAsyncContext *);

/* worker/queue_sentinel.c */
int	queue_sentinel_parse(struct queue *, const char *, char *, size_t);
void	queue_sentinel_ask(struct queue *, int);
void	queue_sentinel_lost(struct queue *, int);
long long queue_sentinel_retryin(struct queue *);
void	queue_sentinel_hello(struct queue *, redisAsyncContext *);
int	queue_sentinel_cmd(struct qconn *, redisCallbackFn *, void *,
	    const char *, size_t);

/* worker/queue_submit.c */
void	queue_submit(struct broker *, const struct ipc_hdr *,
	    const struct ipc_msg *);
void	queue_resend(struct queue *);
void	queue_submitter(struct queue *, const struct timespec *);
int	queue_full(struct broker *);

/* worker/queue_answer.c */
struct qans *queue_ansnew(struct rentry *, uint64_t, int, const char *,
	    size_t);
void	queue_ansqueue(struct queue *, struct qans *);
void	queue_flush(struct queue *);
void	queue_answer(struct broker *, struct job *, int, int,
	    const struct ipc_msg *);

/* worker/queue_entry.c */
void	queue_take(struct queue *, const struct redisReply *, long long);
int	queue_holds(struct queue *, const struct redisReply *);
void	queue_rjobfree(struct rjob *);
void	queue_entrycheck(struct queue *, struct rentry *);
void	queue_entryacked(struct queue *, struct rentry *);
void	queue_entryunacked(struct queue *, struct rentry *);
const char *queue_number(const char *, const char *, uint64_t *, int);

/* worker/queue_job.c */
void	queue_hello(struct queue *, int);
void	queue_tick(struct broker *);
long long queue_timeout(struct broker *);
int	queue_busy(struct broker *);
uint32_t queue_backlog(struct broker *);
void	queue_stats(struct broker *, struct stats_broker *);

#endif
