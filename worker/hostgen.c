/*
 * A worker-only host's generation: the worker script of one
 * configuration, read and compiled before anything forks, and the broker
 * that runs it.  Its broker says once, on a pipe, whether a worker has
 * reached work.accept() or why none can (worker/broker.c): a reload's
 * generation takes over only then, and a start under -d or systemd
 * serves only then.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "queue.h"
#include "util.h"

/*
 * The configuration as the start read it, read again: the config file
 * when the command line named one or -d read the default one, under the
 * command line.  -1, logged, when it is no worker-only host's any more.
 */
int
hgen_config(const struct config *cli, struct config *cf)
{
	char	 err[128];

	*cf = *cli;
	if (cf->cf_file != NULL) {
		if (config_file(cf, cf->cf_file, 1) == -1)
			return -1;
	} else if (cf->cf_daemon == 1 &&
	    config_file(cf, CONFIG_DEFAULT_FILE, 0) == -1)
		return -1;
	if (config_resolve(cf) == -1)
		return -1;
	config_defaults(cf);
	if (cf->cf_port != -1 || cf->cf_handler != NULL ||
	    cf->cf_worker == NULL || cf->cf_queue == NULL) {
		log_warnx("a worker-only host becomes another kind only by "
		    "a restart");
		return -1;
	}
	if (queue_check(cf->cf_queue, err, sizeof(err)) == -1) {
		log_warnx("queue %s: %s", cf->cf_queue, err);
		return -1;
	}
	return 0;
}

/* A generation whose worker script compiles; NULL, logged, if not. */
struct hgen *
hgen_new(const struct config *cf, int id)
{
	struct hgen	*g;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		log_warn("generation");
		return NULL;
	}
	g->hg_id = id;
	g->hg_cf = *cf;
	g->hg_readyfd = -1;
	if (script_open(&g->hg_worker, cf->cf_worker) == -1) {
		free(g);
		return NULL;
	}
	return g;
}

void
hgen_free(struct hgen *g)
{
	if (g->hg_readyfd != -1)
		(void)close(g->hg_readyfd);
	script_free(&g->hg_worker);
	free(g);
}

/*
 * Fork g's broker; with trial, it says on g->hg_readyfd whether its
 * workers start.  -1, logged, when it cannot.
 */
int
hgen_start(struct hgen *g, int trial)
{
	int	 p[2] = { -1, -1 };

	if (trial && pipe2(p, O_CLOEXEC | O_NONBLOCK) == -1) {
		log_warn("pipe");
		return -1;
	}
	(void)fflush(stdout);
	g->hg_broker = broker_start(&g->hg_cf, &g->hg_worker, NULL, 0, p[1]);
	if (p[1] != -1)
		(void)close(p[1]);
	if (g->hg_broker == -1) {
		log_warn("fork");
		g->hg_broker = 0;
		if (p[0] != -1)
			(void)close(p[0]);
		return -1;
	}
	g->hg_readyfd = p[0];
	return 0;
}

/*
 * What g's broker said: 1 when its workers start, 0 when they cannot
 * (why, in buf), -1 when it has not said yet.
 */
int
hgen_verdict(struct hgen *g, char *buf, size_t len)
{
	return broker_verdict(&g->hg_readyfd, buf, len);
}

/*
 * g takes no more jobs: its broker finishes those it holds and writes
 * their answers within the grace period, then exits.
 */
void
hgen_retire(struct hgen *g)
{
	g->hg_retired = 1;
	if (g->hg_broker != 0)
		(void)kill(g->hg_broker, SIGTERM);
}
