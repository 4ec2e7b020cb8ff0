/*
 * What the work.* files share: the process's one link to the broker.
 *	lua/work.c		the link: waiting, sending, batching; luaopen
 *	lua/work_handler.c	the handler's side: submit, collect
 *	lua/work_worker.c	the worker's side: accept, answer
 *	lua/work_direct.c	a worker's answers sent straight to handlers
 */
#ifndef SLUA_WORKINT_H
#define SLUA_WORKINT_H

#include <sys/queue.h>

#include <stdint.h>

#include "ipc.h"
#include "slualib.h"

#define WORK_BATCH_MS	1	/* batched messages wait at most this */

/* A ring of job ids. */
struct idring {
	uint64_t	*r_ids;
	size_t		 r_head;
	size_t		 r_len;
	size_t		 r_cap;
};

/* A job a worker has received but not yet accepted. */
struct wjob {
	STAILQ_ENTRY(wjob)	 j_entry;
	struct ipc_hdr		 j_hdr;
	int			 j_fd;		/* its memfd, or -1 */
	int			 j_flags;	/* IPC_F_DIRECT */
	size_t			 j_len;
	char			 j_data[];
};

struct work {
	enum slua_role	 w_role;
	int		 w_fd;		/* to the broker; -1: none */
	int		 w_brokerfd;	/* pidfd of the broker; -1: none */
	int		 w_dead;	/* the broker is gone */
	uint32_t	 w_slot;
	uint32_t	 w_pid;
	size_t		 w_max;		/* max-job-size */
	struct ipc_in	 w_in;
	struct ipc_out	 w_out;
	struct ipc_stats w_stats;
	int		 w_havestats;
	/*
	 * A memfd whose pages are ours to fill again: a handler's last
	 * answer, a worker's job before the current one (whose answer has
	 * gone, so no retry can need it).  Reuse spares page faults.
	 */
	int		 w_spare;
	int		 w_curfd;	/* the current job's memfd */
	int		 w_unsent;	/* messages batched since a flush */

	/* handlers */
	uint64_t	 w_nextid;
	struct idring	 w_order;	/* submitted, not yet collected */
	struct idring	 w_ready;	/* answered, in arrival order */
	size_t		 w_pending;	/* submitted, not yet answered */
	size_t		 w_uncollected;
	int		 w_tables;	/* registry refs below are made */
	int		 w_answers;	/* id -> string or false */
	int		 w_errors;	/* id -> message */
	int		 w_pendingt;	/* id -> true */

	/* workers */
	STAILQ_HEAD(, wjob) w_jobs;
	struct ipc_hdr	 w_job;		/* the job accept() returned */
	int		 w_hasjob;	/* ... and it awaits its answer */
	int		 w_jobflags;	/* its IPC_F_DIRECT */
	unsigned long	 w_accepted;	/* jobs accepted, ever */
	int		 w_started;	/* the broker knows we started */
	int		 w_jobtimeout;	/* seconds; 0: none */
	int		 w_grace;
	/* The current job's "job timed out", ready for a signal handler. */
	char		 w_timedout[sizeof(struct ipc_hdr) + 16];
	size_t		 w_timedoutlen;
};

extern struct work	 wk;

/* lua/work.c */
void	work_wait(lua_State *);
void	work_send(lua_State *, const struct ipc_hdr *, const char *, size_t,
	    int);
void	work_checksize(lua_State *, const char *, size_t);
void	work_hdr(struct ipc_hdr *, int);
void	work_message(lua_State *, const struct ipc_msg *);
void	work_pushpayload(lua_State *, int, const char *, size_t);
void	work_keepspare(int);
void	work_flushlater(lua_State *);

/* lua/work_direct.c */
int	work_direct_ok(const struct ipc_hdr *, size_t);
void	work_direct_add(const struct ipc_hdr *, const char *, size_t);
void	work_direct_settle(void);
int	work_direct_pending(void);
int	work_outflush(void);

/* lua/work_handler.c */
void	work_answered(lua_State *, const struct ipc_msg *);
void	work_brokerdied(lua_State *);
int	work_answered_p(lua_State *, uint64_t);
int	work_submit(lua_State *);
int	work_collect(lua_State *);
int	work_collectany(lua_State *);
int	work_active(lua_State *);

/* lua/work_worker.c */
void	work_queuejob(lua_State *, const struct ipc_msg *);
int	work_forward(lua_State *, const char *, size_t);
int	work_accept(lua_State *);
int	work_answer(lua_State *);

#endif
