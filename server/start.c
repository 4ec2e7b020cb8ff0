/*
 * The supervisor's start, up to the moment it serves.  Whatever can fail
 * is tried before detaching, where it is reported on the terminal: the
 * config, the scripts, TLS, the pidfile's lock, binding.  Then slua
 * detaches (-d), writes its pid and listens, so whoever finds the port
 * open finds the pid too.
 *
 * It serves once every handler of the first generation has loaded the
 * script and, with workers, one worker has reached work.accept().  When
 * someone waits for that (the parent of -d, or systemd through
 * NOTIFY_SOCKET: see server/daemon.c), a handler or worker that cannot
 * start first fails the start: slua says why and exits 1, leaving nothing
 * behind.  In the foreground otherwise it serves at once, and what cannot
 * start is retried with back-off.
 */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "supervisor.h"
#include "util.h"

/*
 * The start failed after detaching, or under systemd: say why (on the
 * waiting parent's terminal, or to systemd's journal) and end.
 */
void
sup_startfail(struct supervisor *s, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1200];

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warnx("%s", msg);
	s->s_failed = 1;
}

/* The first generation serves: whoever waits for it is told. */
static void
sup_started(struct supervisor *s)
{
	struct gen	*g = s->s_gen;

	s->s_starting = 0;
	gen_unwatch(g);
	if (s->s_detached)
		daemon_ready();
	log_info("started on port %d, pid %d", g->g_cf.cf_port, (int)getpid());
	/* Detached, the parent says it: it is the process systemd knows. */
	if (!s->s_detached)
		daemon_notify("READY=1");
}

/*
 * While starting: handlers said they serve, or (verdict) the first
 * broker said whether a worker starts.
 */
void
sup_starting(struct supervisor *s, int verdict)
{
	struct gen	*g = s->s_gen;
	char		 why[1024];

	if (verdict && gen_verdict(g, why, sizeof(why)) == 0) {
		sup_startfail(s, "worker cannot start: %s", why);
		return;
	}
	gen_heard(g);
	if (gen_serving(g))
		sup_started(s);
}

/* Up to the loop: -1 when the start failed, said why. */
int
sup_start(struct supervisor *s, const struct config *cli,
    const struct config *cf)
{
	daemon_notifyinit();
	if ((cf->cf_daemon == 1 || cli->cf_pidfile != NULL) &&
	    pf_open(&s->s_pidfile, cf->cf_pidfile) == -1)
		return -1;
	if (listen_open(&s->s_listen, cf) == -1 || handoff_open() == -1)
		return -1;
	if (cf->cf_status != NULL && status_open(&s->s_status,
	    cf->cf_status, &s->s_listen) == -1)
		return -1;
	if (cf->cf_user == NULL && geteuid() == 0)
		log_warnx("running as root: consider -u");
	if (cf->cf_daemon == 1) {
		daemon_detach();
		s->s_detached = 1;
	}
	s->s_guarded = s->s_detached || daemon_notifying();
	if (s->s_pidfile.pf_fd != -1 && pf_write(&s->s_pidfile) == -1)
		return -1;
	if (listen_start(&s->s_listen) == -1)
		return -1;

	s->s_sigfd = proc_signalfd();
	setproctitle("%s", "supervisor");
	log_setrole("supervisor");
	if (!s->s_guarded) {
		sup_started(s);
		return 0;
	}
	/* The first generation's broker and handlers say when they serve. */
	if (gen_watch(s->s_gen) == -1 || gen_trial(s->s_gen) == -1)
		return -1;
	s->s_starting = 1;
	return 0;
}
