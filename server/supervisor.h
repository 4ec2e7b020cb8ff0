/*
 * The supervisor's state, shared by its loop (server/supervisor.c), its
 * start (server/start.c) and its reload (server/reload.c).
 */
#ifndef SLUA_SUPERVISOR_H
#define SLUA_SUPERVISOR_H

#include <sys/queue.h>

#include <time.h>

#include "config.h"
#include "daemon.h"
#include "gen.h"
#include "server.h"
#include "status.h"

struct supervisor {
	const struct config *s_cli;	/* the command line, for reloads */
	struct listener	 s_listen;
	struct pidfile	 s_pidfile;
	int		 s_sigfd;
	struct gen	*s_gen;		/* the current generation */
	struct gen	*s_trial;	/* a reload's, until its workers start */
	int		 s_lastid;	/* the newest generation's number */
	struct genq	 s_gens;	/* all, newest last */
	int		 s_stopping;
	int		 s_draining;	/* stopping; the queue is served */
	struct timespec	 s_drainat;	/* since when */
	struct timespec	 s_deadline;
	unsigned long	 s_restarts;
	int		 s_detached;	/* -d: a parent waits for the start */
	int		 s_guarded;	/* someone waits: -d, or systemd */
	int		 s_starting;	/* guarded, and not serving yet */
	int		 s_failed;	/* the start failed: slua exits 1 */
	int		 s_hup;		/* a HUP that came while starting */
	struct status	*s_status;	/* --status; NULL: none */
};

#define DRAIN_POLL_MS	2	/* how often a drain looks at the queue */

int	drain_start(struct supervisor *);
int	drain_done(struct supervisor *);
int	sup_start(struct supervisor *, const struct config *,
	    const struct config *);
void	sup_starting(struct supervisor *, int);
void	sup_startfail(struct supervisor *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	sup_collect(struct supervisor *);

/* server/reload.c */
void	sup_reload(struct supervisor *);
void	sup_verdict(struct supervisor *);

#endif
