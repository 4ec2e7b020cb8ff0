/*
 * The --status listener, which the supervisor serves in its loop: plain
 * HTTP/1.1 GET of /metrics (Prometheus text format 0.0.4), /status (a
 * scoreboard) and /status?json.  server/status.c serves the clients,
 * server/status_collect.c takes in the reports of the supervisor's
 * children (common/stats.h), server/status_render.c writes the pages.
 */
#ifndef SLUA_STATUS_H
#define SLUA_STATUS_H

#include <sys/queue.h>
#include <sys/types.h>

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "stats.h"

#define STATUS_MAXCLIENTS	16
#define STATUS_MAXREQ		4096	/* a request's line and headers */
#define STATUS_CLIENT_MS	5000	/* a client's time, all told */
#define STATUS_NPOLL		(2 + STATUS_MAXCLIENTS)

struct listener;
struct supervisor;

struct status_client {
	int			 sc_fd;		/* -1: a free place */
	char			 sc_req[STATUS_MAXREQ];
	size_t			 sc_rlen;
	char			*sc_out;	/* the whole answer */
	size_t			 sc_olen;
	size_t			 sc_ooff;	/* written so far */
	struct timespec		 sc_deadline;
};

/* A child that reports: its last report. */
struct status_proc {
	TAILQ_ENTRY(status_proc) sp_entry;
	pid_t			 sp_pid;
	struct stats_msg	*sp_msg;	/* a handler's, or a broker's
						   up to its rows */
};
TAILQ_HEAD(status_procq, status_proc);

enum status_role {
	STATUS_RHANDLER,
	STATUS_RBROKER,
	STATUS_NROLES
};

struct status {
	int			 st_lfd;	/* the listener */
	char			 st_path[108];	/* its Unix socket, to unlink */
	int			 st_rfd;	/* reports come in here */
	struct status_client	 st_clients[STATUS_MAXCLIENTS];
	struct status_procq	 st_procs;
	struct stats_handler	 st_hgone;	/* handlers that are gone */
	struct stats_broker	 st_bgone;	/* brokers ..., but rows */
	uint64_t		 st_restarts[STATUS_NROLES];
	uint64_t		 st_crashes[STATUS_NROLES];
	uint64_t		 st_reloads;
	uint64_t		 st_reloadfails;
	time_t			 st_started;	/* wall clock */
	int64_t			 st_startns;	/* CLOCK_MONOTONIC */
};

/* What the pages add up, from the reports and the supervisor. */
struct status_sum {
	struct stats_handler	 u_h;
	struct stats_broker	 u_b;		/* counters only */
	int			 u_hstate[3];	/* enum stats_state */
	int			 u_wstate[3];
	long long		 u_queued;
	double			 u_oldest;	/* seconds; 0: none queued */
	long long		 u_listenq;
	long long		 u_held;	/* connections the handlers hold */
	/* --queue: the serving broker's figures; -1: none */
	long long		 u_qdepth;
	long long		 u_qlength;
	long long		 u_qpending;
	long long		 u_qdead;
};

extern const char *const status_states[3];

/* server/status.c */
int	status_open(struct status **, const char *,
	    const struct listener *);
void	status_close(struct status *);
int	status_pollfds(struct status *, struct pollfd *);
void	status_events(struct status *, struct supervisor *,
	    const struct pollfd *, int);
int	status_timeout(struct status *, int);

/* server/status_collect.c */
void	status_reports(struct status *);
void	status_gone(struct status *, pid_t);
void	status_died(struct status *, int, int);
void	status_reloaded(struct status *, int);
const struct stats_msg *status_find(struct status *, pid_t);
void	status_totals(struct status *, struct stats_handler *,
	    struct stats_broker *);

/* server/status_render.c */
void	status_sum(struct status *, struct supervisor *, struct status_sum *);
void	status_metrics(struct status *, struct supervisor *, FILE *);
double	status_age(int64_t, int64_t);
long long status_rss(pid_t);

/* server/status_board.c */
void	status_text(struct status *, struct supervisor *, FILE *);
int	status_json(struct status *, struct supervisor *, FILE *);

#endif
