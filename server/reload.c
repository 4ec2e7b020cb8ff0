/*
 * HUP in tcp mode: the supervisor's reload (server/supervisor.c tells the
 * whole lifecycle).  A new generation is made from the command line and
 * the config file as they are now; it takes over at once, or, with
 * workers, once one of them reached work.accept() (sup_verdict); if it
 * cannot, it is discarded and the running generation goes on.
 */
#include <sys/queue.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "daemon.h"
#include "gen.h"
#include "log.h"
#include "status.h"
#include "supervisor.h"
#include "util.h"

/* The command line, then the config file over what it left unset. */
static int
sup_config(const struct config *cli, struct config *cf)
{
	*cf = *cli;
	if (cf->cf_file != NULL) {
		if (config_file(cf, cf->cf_file, 1) == -1)
			return -1;
	} else if (config_file(cf, CONFIG_DEFAULT_FILE, 0) == -1)
		return -1;
	if (config_resolve(cf) == -1)
		return -1;
	config_defaults(cf);
	return 0;
}

static void
sup_promote(struct supervisor *s, struct gen *g)
{
	if (s->s_gen != NULL) {
		gen_retire(s->s_gen);
		status_reloaded(s->s_status, 1);
	}
	s->s_gen = g;
	if (s->s_trial == g)
		s->s_trial = NULL;
	log_info("generation %d started", g->g_id);
	daemon_notify("READY=1\nSTATUS=generation %d serving", g->g_id);
}

/* A reload that failed after its generation was made: it goes. */
static void
sup_discard(struct supervisor *s, struct gen *g, const char *why)
{
	log_warnx("reload failed: %s; still running generation %d", why,
	    s->s_gen ? s->s_gen->g_id : 0);
	status_reloaded(s->s_status, 0);
	if (s->s_trial == g)
		s->s_trial = NULL;
	gen_retire(g);
	sup_collect(s);
}

/* systemd: the reload is over, and the running generation goes on. */
static void
sup_kept(struct supervisor *s)
{
	daemon_notify("READY=1\nSTATUS=reload failed; still running "
	    "generation %d", s->s_gen ? s->s_gen->g_id : 0);
}

/*
 * HUP: a new generation from the config and scripts as they are now.  It
 * takes over at once, or, with workers, once one of them has started
 * (gen_trial()); until then the running one serves.
 */
void
sup_reload(struct supervisor *s)
{
	struct config	 cf;
	struct gen	*g;
	struct timespec	 now;

	if (s->s_stopping)
		return;
	if (s->s_starting) {
		s->s_hup = 1;	/* once it serves */
		return;
	}
	log_info("reloading");
	clock_now(&now);
	daemon_notify("RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	if (sup_config(s->s_cli, &cf) == -1 ||
	    (g = gen_new(&cf, s->s_lastid + 1)) == NULL) {
		log_warnx("reload failed: still running generation %d",
		    s->s_gen ? s->s_gen->g_id : 0);
		status_reloaded(s->s_status, 0);
		sup_kept(s);
		return;
	}
	if (cf.cf_port != s->s_gen->g_cf.cf_port)
		log_warnx("reload: a new port takes a restart");
	if ((cf.cf_status == NULL) != (s->s_gen->g_cf.cf_status == NULL) ||
	    (cf.cf_status != NULL && strcmp(cf.cf_status,
	    s->s_gen->g_cf.cf_status) != 0))
		log_warnx("reload: a new status address takes a restart");
	if (s->s_trial != NULL)
		sup_discard(s, s->s_trial, "a newer reload came");
	TAILQ_INSERT_TAIL(&s->s_gens, g, g_entry);
	s->s_lastid = g->g_id;
	if (gen_trial(g) == -1) {
		sup_discard(s, g, "cannot start its broker");
		sup_kept(s);
		return;
	}
	if (g->g_readyfd == -1) {
		sup_promote(s, g);
		return;
	}
	s->s_trial = g;
	log_info("generation %d: waiting for a worker to start", g->g_id);
}

/* The trial's broker has said whether its workers start. */
void
sup_verdict(struct supervisor *s)
{
	char	 why[1024], msg[1100];

	switch (gen_verdict(s->s_trial, why, sizeof(why))) {
	case -1:
		return;
	case 1:
		sup_promote(s, s->s_trial);
		return;
	}
	(void)snprintf(msg, sizeof(msg), "worker cannot start: %s", why);
	sup_discard(s, s->s_trial, msg);
	sup_kept(s);
}
