/*
 * A worker-only host (worker/host.c): the parent of one broker per
 * generation, each with its pool of workers taking jobs from the shared
 * queue; no handler, no port.  A generation is the broker of one
 * configuration and worker script (worker/hostgen.c): HUP starts a new
 * one beside the running one, which it replaces once a worker of it has
 * reached work.accept().
 */
#ifndef SLUA_HOST_H
#define SLUA_HOST_H

#include <sys/queue.h>
#include <sys/types.h>

#include <limits.h>

#include "config.h"
#include "daemon.h"
#include "slualib.h"

struct hgen {
	TAILQ_ENTRY(hgen)	 hg_entry;
	int			 hg_id;
	struct config		 hg_cf;
	struct script		 hg_worker;
	pid_t			 hg_broker;	/* 0: gone */
	int			 hg_status;	/* its broker's wait status */
	int			 hg_readyfd;	/* its broker says whether its
						   workers start; -1: said */
	int			 hg_retired;	/* TERMed: finishes its jobs */
};
TAILQ_HEAD(hgenq, hgen);

struct host {
	const struct config	*h_cli;		/* the command line */
	struct hgenq		 h_gens;	/* current, trial and retired */
	struct hgen		*h_cur;		/* takes jobs */
	struct hgen		*h_trial;	/* a reload's, until its verdict */
	int			 h_lastid;
	int			 h_sigfd;
	int			 h_starting;	/* the -d parent or systemd waits
						   for h_cur's verdict */
	int			 h_detached;
	int			 h_stopping;
	int			 h_hup;		/* a HUP came while starting */
	int			 h_failed;	/* the start failed, or h_cur's
						   broker died: exit 1 */
	struct pidfile		 h_pidfile;
	char			 h_wpath[PATH_MAX];	/* the worker script's */
	char			 h_fpath[PATH_MAX];	/* the config file's */
};

/* worker/hostgen.c */
struct hgen	*hgen_new(const struct config *, int);
void		 hgen_free(struct hgen *);
int		 hgen_start(struct hgen *, int);
int		 hgen_verdict(struct hgen *, char *, size_t);
void		 hgen_retire(struct hgen *);
int		 hgen_config(const struct config *, struct config *);

int		 host_main(struct config *, struct config *);

#endif
