/*
 * A generation: the children of one configuration, a broker, its handlers,
 * and one datagram socketpair per handler slot between them
 * (server/gen.c).  The supervisor (server/supervisor.c) runs the current
 * one, a reload's new one beside it, and retired ones until they are gone.
 */
#ifndef SLUA_GEN_H
#define SLUA_GEN_H

#include <sys/queue.h>
#include <sys/types.h>

#include <time.h>

#include "config.h"
#include "openssl.h"
#include "slualib.h"

#define SUP_MAXBACK_MS	10000	/* the longest pause before a restart */

struct slot {
	pid_t		 sl_pid;	/* 0: none */
	int		 sl_hfd;	/* the handler's end */
	int		 sl_bfd;	/* the broker's end */
	struct timespec	 sl_started;
	struct timespec	 sl_spawnat;	/* respawn not before */
	int		 sl_fails;	/* young deaths in a row */
	int		 sl_ready;	/* a handler of it has loaded its script */
	unsigned long	 sl_restarts;	/* handlers started again */
};

struct gen {
	TAILQ_ENTRY(gen) g_entry;
	int		 g_id;
	struct config	 g_cf;
	struct script	 g_handler;
	struct script	 g_worker;
	int		 g_hasworker;
	SSL_CTX		*g_tls;
	struct slot	*g_slots;
	int		 g_nslots;
	pid_t		 g_broker;	/* 0: none */
	struct timespec	 g_brokerstart;
	struct timespec	 g_brokerat;
	int		 g_brokerfails;
	unsigned long	 g_brokerrestarts;
	int		 g_retired;
	int		 g_readyfd;	/* a reload's: the broker says whether
					   its workers start; -1: none */
	int		 g_startfd[2];	/* while slua starts: each handler
					   writes its slot once it serves;
					   -1: none */
};
TAILQ_HEAD(genq, gen);

struct gen	*gen_new(const struct config *, int);
void		 gen_free(struct gen *);
void		 gen_startbroker(struct gen *, int);
int		 gen_trial(struct gen *);
int		 gen_watch(struct gen *);
void		 gen_heard(struct gen *);
int		 gen_serving(const struct gen *);
void		 gen_unwatch(struct gen *);
int		 gen_verdict(struct gen *, char *, size_t);
int		 gen_handlers(const struct gen *);
void		 gen_signal(struct gen *, int);
void		 gen_retire(struct gen *);

#endif
