/*
 * A generation's life before its handlers start: what it needs (gen_new),
 * its broker, on a reload its trial, and while slua starts the word of
 * its handlers that they serve (gen_watch).  The supervisor
 * (server/supervisor.c) starts and replaces its handlers.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "gen.h"
#include "ipc.h"
#include "log.h"
#include "server.h"
#include "util.h"

void
gen_free(struct gen *g)
{
	int	 i;

	for (i = 0; i < g->g_nslots; i++) {
		if (g->g_slots[i].sl_hfd != -1)
			(void)close(g->g_slots[i].sl_hfd);
		if (g->g_slots[i].sl_bfd != -1)
			(void)close(g->g_slots[i].sl_bfd);
	}
	free(g->g_slots);
	if (g->g_readyfd != -1)
		(void)close(g->g_readyfd);
	gen_unwatch(g);
	script_free(&g->g_handler);
	script_free(&g->g_worker);
	if (g->g_tls != NULL)
		SSL_CTX_free(g->g_tls);
	free(g);
}

/* Everything a generation needs before it forks; NULL and logged if not. */
struct gen *
gen_new(const struct config *cf, int id)
{
	struct gen	*g;
	int		 i, sv[2];

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		log_warn("generation");
		return NULL;
	}
	g->g_id = id;
	g->g_cf = *cf;
	g->g_readyfd = -1;
	g->g_startfd[0] = g->g_startfd[1] = -1;
	if (script_open(&g->g_handler, cf->cf_handler) == -1)
		goto fail;
	if (cf->cf_worker != NULL) {
		if (script_open(&g->g_worker, cf->cf_worker) == -1)
			goto fail;
		g->g_hasworker = 1;
	} else if (cf->cf_queue != NULL)
		g->g_hasworker = 1;	/* a broker, for the shared queue */
	if (tls_init(cf, &g->g_tls) == -1)
		goto fail;

	g->g_nslots = cf->cf_max_handlers;
	if ((g->g_slots = calloc(g->g_nslots, sizeof(*g->g_slots))) == NULL)
		goto fail;
	for (i = 0; i < g->g_nslots; i++)
		g->g_slots[i].sl_hfd = g->g_slots[i].sl_bfd = -1;
	for (i = 0; g->g_hasworker && i < g->g_nslots; i++) {
		if (ipc_socketpair(sv) == -1) {
			log_warn("socketpair");
			goto fail;
		}
		g->g_slots[i].sl_hfd = sv[0];
		g->g_slots[i].sl_bfd = sv[1];
	}
	return g;
 fail:
	gen_free(g);
	return NULL;
}

/* Start g's broker; readyfd is for gen_trial(), or -1. */
void
gen_startbroker(struct gen *g, int readyfd)
{
	int	*fds, i;

	if ((fds = reallocarray(NULL, g->g_nslots, sizeof(*fds))) == NULL)
		fatal("supervisor");
	for (i = 0; i < g->g_nslots; i++)
		fds[i] = g->g_slots[i].sl_bfd;
	g->g_broker = broker_start(&g->g_cf, &g->g_worker, fds, g->g_nslots,
	    readyfd);
	free(fds);
	clock_now(&g->g_brokerstart);
	if (g->g_broker == -1) {
		log_warn("fork");
		g->g_broker = 0;
		g->g_brokerat = g->g_brokerstart;
		clock_add(&g->g_brokerat, SUP_MAXBACK_MS);
	}
}

/*
 * A reload's generation starts its broker first, and takes over only once
 * a worker of it has reached work.accept(): a worker script that cannot
 * start keeps the running generation, as a syntax error does.  Returns -1
 * when it cannot even try.  A generation without workers needs no trial.
 */
int
gen_trial(struct gen *g)
{
	int	 p[2];

	if (!g->g_hasworker || g->g_cf.cf_workers == 0)
		return 0;
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe");
		return -1;
	}
	gen_startbroker(g, p[1]);
	(void)close(p[1]);
	if (g->g_broker == 0) {
		(void)close(p[0]);
		return -1;
	}
	g->g_readyfd = p[0];
	return 0;
}

/*
 * What the trial's broker said: 1 when its workers start, 0 when they
 * cannot (why, in buf), -1 when it has not said yet.
 */
int
gen_verdict(struct gen *g, char *buf, size_t len)
{
	return broker_verdict(&g->g_readyfd, buf, len);
}

int
gen_handlers(const struct gen *g)
{
	int	 i, n = 0;

	for (i = 0; i < g->g_nslots; i++)
		if (g->g_slots[i].sl_pid != 0)
			n++;
	return n;
}

/* Each handler leads its process group: SIGKILL ends what it started. */
void
gen_signal(struct gen *g, int sig)
{
	int	 i;
	pid_t	 pid;

	for (i = 0; i < g->g_nslots; i++)
		if ((pid = g->g_slots[i].sl_pid) != 0)
			(void)kill(sig == SIGKILL ? -pid : pid, sig);
}

void
gen_retire(struct gen *g)
{
	g->g_retired = 1;
	gen_signal(g, SIGTERM);
}

/*
 * While slua starts, its first generation's handlers each say when they
 * have loaded the script and are about to accept (server/handler.c): a
 * pipe they write their slot number to.
 */
int
gen_watch(struct gen *g)
{
	if (pipe2(g->g_startfd, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe");
		g->g_startfd[0] = g->g_startfd[1] = -1;
		return -1;
	}
	return 0;
}

/* Read which handlers serve. */
void
gen_heard(struct gen *g)
{
	int	 slot[64];
	ssize_t	 n, i;

	if (g->g_startfd[0] == -1)
		return;
	while ((n = read(g->g_startfd[0], slot, sizeof(slot))) > 0)
		for (i = 0; i < n / (ssize_t)sizeof(slot[0]); i++)
			if (slot[i] >= 0 && slot[i] < g->g_nslots)
				g->g_slots[slot[i]].sl_ready = 1;
}

/* Every handler has started and, with workers, one worker has too. */
int
gen_serving(const struct gen *g)
{
	int	 i;

	if (g->g_readyfd != -1)
		return 0;
	for (i = 0; i < g->g_cf.cf_handlers; i++)
		if (!g->g_slots[i].sl_ready)
			return 0;
	return 1;
}

void
gen_unwatch(struct gen *g)
{
	int	 i;

	for (i = 0; i < 2; i++)
		if (g->g_startfd[i] != -1) {
			(void)close(g->g_startfd[i]);
			g->g_startfd[i] = -1;
		}
}
