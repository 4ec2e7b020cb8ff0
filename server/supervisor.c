/*
 * tcp mode's parent: the supervisor.  It reads the scripts, binds the
 * listeners and loads TLS while it can still report on the terminal, then
 * detaches if asked (server/start.c), forks the broker (which forks the
 * workers) and one handler per slot, and from then on only watches: a dead
 * child is logged and replaced, TERM and INT stop everything gracefully,
 * HUP reloads.
 *
 * The children of one configuration form a generation (server/gen.c): a
 * broker, its handlers, and one datagram socketpair per handler slot
 * between them.  A replacement handler takes over its slot's socket; the
 * broker's answers carry the handler's pid, so it ignores what was meant
 * for the one it replaced.  HUP starts a new generation beside the running
 * one: its broker first, and once one of its workers has reached
 * work.accept() (at once, without workers) it takes over and the old one
 * retires: its handlers finish their connection and exit (the new ones
 * accept meanwhile, on the same sockets), then its broker finishes its
 * jobs and exits.  Nothing is refused and no job is lost.  A new config,
 * script or worker that cannot start leaves the old generation running.
 * The reload itself is server/reload.c's.
 */
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "daemon.h"
#include "gen.h"
#include "handoff.h"
#include "log.h"
#include "server.h"
#include "slualib.h"
#include "stats.h"
#include "supervisor.h"
#include "util.h"

#define SUP_YOUNG_MS	1000	/* a child dying younger is failing */
#define SUP_BACKOFF_MS	100
#define SUP_GROW_MS	25	/* how often a growable pool looks at the
				   listen queue */

static int
sup_delay(int fails)
{
	long long	 ms;

	if (fails <= 1)
		return 0;
	ms = (long long)SUP_BACKOFF_MS << (fails - 2 > 10 ? 10 : fails - 2);
	return ms > SUP_MAXBACK_MS ? SUP_MAXBACK_MS : (int)ms;
}

static void
sup_starthandler(struct supervisor *s, struct gen *g, int slot)
{
	struct handler_env	 he;
	struct slot		*sl = &g->g_slots[slot];
	pid_t			 pid, parent = getpid();
	int			 keep[LISTEN_MAX + 3 + HANDOFF_KEEP], n, i;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		clock_now(&sl->sl_spawnat);
		clock_add(&sl->sl_spawnat, SUP_MAXBACK_MS);
		return;
	}
	if (pid != 0) {
		(void)setpgid(pid, pid);	/* whichever of us is first */
		sl->sl_pid = pid;
		clock_now(&sl->sl_started);
		return;
	}
	proc_ownedgroup();
	proc_child("handler", parent);
	for (n = 0, i = 0; i < s->s_listen.l_n; i++)
		keep[n++] = s->s_listen.l_fds[i];
	if (sl->sl_hfd != -1)
		keep[n++] = sl->sl_hfd;
	if (g->g_startfd[1] != -1)
		keep[n++] = g->g_startfd[1];
	if (stats_fd != -1)
		keep[n++] = stats_fd;
	n += handoff_keep(keep + n);
	fd_keep(keep, n);
	memset(&he, 0, sizeof(he));
	he.he_cf = &g->g_cf;
	he.he_script = &g->g_handler;
	he.he_listen = &s->s_listen;
	he.he_tls = g->g_tls;
	he.he_slot = slot;
	he.he_spare = slot >= g->g_cf.cf_handlers;
	he.he_fd = sl->sl_hfd;
	he.he_startfd = g->g_startfd[1];
	he.he_broker = g->g_broker;
	handler_main(&he);
}

/*
 * Clients waiting in the listen queue mean every handler is busy: start a
 * spare handler for each, up to --max-handlers.  Spares exit by themselves
 * once idle (server/handler.c), so the pool shrinks back.
 */
static void
sup_grow(struct supervisor *s, struct gen *g)
{
	struct tcp_info	 ti;
	socklen_t	 len;
	int		 i, waiting = 0;

	for (i = 0; i < s->s_listen.l_n; i++) {
		len = sizeof(ti);
		if (getsockopt(s->s_listen.l_fds[i], IPPROTO_TCP, TCP_INFO,
		    &ti, &len) == 0)
			waiting += ti.tcpi_unacked;	/* the accept queue */
	}
	for (i = g->g_cf.cf_handlers; i < g->g_nslots && waiting > 0; i++) {
		if (g->g_slots[i].sl_pid != 0)
			continue;
		sup_starthandler(s, g, i);
		waiting--;
	}
}

/* Start what the current generation lacks; ms until the next is due. */
static int
sup_fill(struct supervisor *s)
{
	struct gen	*g = s->s_gen;
	struct timespec	 now;
	long long	 ms, next = -1;
	int		 i;

	if (s->s_stopping || g == NULL)
		return -1;
	clock_now(&now);
	if (g->g_hasworker && g->g_broker == 0) {
		if ((ms = clock_ms(&now, &g->g_brokerat)) <= 0)
			gen_startbroker(g, -1);
		else
			next = ms;
	}
	for (i = 0; i < g->g_cf.cf_handlers; i++) {
		if (g->g_slots[i].sl_pid != 0)
			continue;
		if ((ms = clock_ms(&now, &g->g_slots[i].sl_spawnat)) <= 0)
			sup_starthandler(s, g, i);
		else if (next == -1 || ms < next)
			next = ms;
	}
	if (g->g_nslots > g->g_cf.cf_handlers) {
		sup_grow(s, g);
		if (next == -1 || next > SUP_GROW_MS)
			next = SUP_GROW_MS;
	}
	return (int)next;
}

/*
 * How a child ended, for the log.  Returns 0 when it ended well, 1 when
 * something killed it (an operator, the OOM killer), 2 when it crashed or
 * failed: only crashes at start make the restarts back off.
 */
static int
sup_how(int status, char *buf, size_t len)
{
	int	 sig;

	if (WIFSIGNALED(status)) {
		sig = WTERMSIG(status);
		(void)snprintf(buf, len, "killed by signal %d", sig);
		return sig == SIGKILL || sig == SIGTERM || sig == SIGINT ||
		    sig == SIGHUP ? 1 : 2;
	}
	(void)snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	return WEXITSTATUS(status) != 0 ? 2 : 0;
}

static void
sup_backoff(struct supervisor *s, struct timespec *started, int *fails,
    struct timespec *at, int failed)
{
	struct timespec	 now;

	clock_now(&now);
	if (failed == 2 && clock_ms(started, &now) < SUP_YOUNG_MS)
		(*fails)++;
	else
		*fails = 0;
	*at = now;
	clock_add(at, sup_delay(*fails));
	s->s_restarts++;
}

/* A child of g died; returns 1 when pid was one of g's. */
static int
sup_died(struct supervisor *s, struct gen *g, pid_t pid, int status)
{
	struct slot	*sl;
	char		 how[64];
	int		 failed, i, quiet = s->s_stopping || g->g_retired;

	failed = sup_how(status, how, sizeof(how));
	if (pid == g->g_broker) {
		g->g_broker = 0;
		status_gone(s->s_status, pid);
		if (!quiet) {
			log_warnx("broker %d died: %s", (int)pid, how);
			g->g_brokerrestarts++;
			status_died(s->s_status, STATUS_RBROKER, failed == 2);
		}
		sup_backoff(s, &g->g_brokerstart, &g->g_brokerfails,
		    &g->g_brokerat, failed);
		return 1;
	}
	for (i = 0; i < g->g_nslots; i++)
		if (g->g_slots[i].sl_pid == pid)
			break;
	if (i == g->g_nslots)
		return 0;
	sl = &g->g_slots[i];
	sl->sl_pid = 0;
	status_gone(s->s_status, pid);
	/* While slua starts under -d or systemd, a handler that cannot start
	   fails the start: nobody is there to see it retried. */
	if (s->s_starting && g == s->s_gen && !s->s_stopping) {
		gen_heard(g);	/* what it said before it died */
		if (!sl->sl_ready) {
			sup_startfail(s, "handler %d died at start: %s",
			    (int)pid, how);
			return 1;
		}
	}
	/* A spare's going, or a retired one's, is no restart. */
	if (failed && !quiet) {
		log_warnx("handler %d died: %s", (int)pid, how);
		sl->sl_restarts++;
		status_died(s->s_status, STATUS_RHANDLER, failed == 2);
	}
	sup_backoff(s, &sl->sl_started, &sl->sl_fails, &sl->sl_spawnat,
	    failed);
	if (sl->sl_fails > 1 && !quiet)
		log_warnx("handler failing at start: next in %d ms",
		    sup_delay(sl->sl_fails));
	return 1;
}

/* Retired generations go: handlers first, so their jobs can finish. */
void
sup_collect(struct supervisor *s)
{
	struct gen	*g, *next;

	for (g = TAILQ_FIRST(&s->s_gens); g != NULL; g = next) {
		next = TAILQ_NEXT(g, g_entry);
		if (!g->g_retired || gen_handlers(g) > 0)
			continue;
		if (g->g_broker != 0) {
			(void)kill(g->g_broker, SIGTERM);
			continue;	/* its death brings us back here */
		}
		log_debug("generation %d is gone", g->g_id);
		TAILQ_REMOVE(&s->s_gens, g, g_entry);
		if (g == s->s_gen)
			s->s_gen = NULL;
		gen_free(g);
	}
}

static void
sup_reap(struct supervisor *s)
{
	struct gen	*g;
	pid_t		 pid;
	int		 status;

	/* What the dead said before they died counts. */
	status_reports(s->s_status);
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		TAILQ_FOREACH(g, &s->s_gens, g_entry)
			if (sup_died(s, g, pid, status))
				break;
	sup_collect(s);
}

/* No more clients: the handlers finish their connection and go. */
static void
sup_unlisten(struct supervisor *s)
{
	struct gen	*g;

	s->s_draining = 0;
	listen_shut(&s->s_listen);
	listen_close(&s->s_listen);
	TAILQ_FOREACH(g, &s->s_gens, g_entry)
		gen_retire(g);
	sup_collect(s);
}

/* TERM: the listeners stop once what they queued is served (drain.c). */
static void
sup_stop(struct supervisor *s)
{
	if (s->s_stopping)
		return;
	log_info("stopping");
	s->s_stopping = 1;
	s->s_starting = 0;
	daemon_notify("STOPPING=1");
	s->s_trial = NULL;
	clock_now(&s->s_deadline);
	clock_add(&s->s_deadline, s->s_gen->g_cf.cf_grace * 1000LL);
	if (drain_start(s) == -1)
		sup_unlisten(s);
}

static void
sup_status(struct supervisor *s)
{
	struct gen	*g;
	int		 n = 0;

	TAILQ_FOREACH(g, &s->s_gens, g_entry)
		n += gen_handlers(g);
	log_info("status: generation %d, %d handlers, %lu restarts",
	    s->s_gen ? s->s_gen->g_id : 0, n, s->s_restarts);
	/* Each knows its own counts: the broker its jobs, handlers their
	   connections. */
	TAILQ_FOREACH(g, &s->s_gens, g_entry) {
		gen_signal(g, SIGUSR1);
		if (g->g_broker != 0)
			(void)kill(g->g_broker, SIGUSR1);
	}
}

static void
sup_signals(struct supervisor *s)
{
	struct signalfd_siginfo	 si;

	while (read(s->s_sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			sup_reap(s);
			break;
		case SIGTERM:
		case SIGINT:
			sup_stop(s);
			break;
		case SIGHUP:
			sup_reload(s);
			break;
		case SIGUSR1:
			sup_status(s);
			break;
		}
	}
}

/* Whatever still runs is killed. */
static void
sup_killall(struct supervisor *s)
{
	struct gen	*g;

	TAILQ_FOREACH(g, &s->s_gens, g_entry) {
		gen_signal(g, SIGKILL);
		if (g->g_broker != 0)
			(void)kill(g->g_broker, SIGKILL);
	}
}

/* Past the grace period, whatever still runs is killed. */
static void
sup_late(struct supervisor *s)
{
	struct timespec	 now;

	clock_now(&now);
	if (clock_ms(&now, &s->s_deadline) > 0)
		return;
	sup_killall(s);
}

static void
sup_loop(struct supervisor *s)
{
	struct pollfd	 pfd[3 + STATUS_NPOLL];
	int		 timeout, n;

	while (!s->s_failed && !(s->s_stopping && TAILQ_EMPTY(&s->s_gens))) {
		timeout = sup_fill(s);
		if (s->s_draining) {
			if (drain_done(s))
				sup_unlisten(s);
			timeout = DRAIN_POLL_MS;
		} else if (s->s_stopping) {
			sup_late(s);
			timeout = 100;
		}
		pfd[0].fd = s->s_sigfd;
		pfd[1].fd = s->s_trial != NULL ? s->s_trial->g_readyfd :
		    s->s_starting ? s->s_gen->g_readyfd : -1;
		pfd[2].fd = s->s_starting ? s->s_gen->g_startfd[0] : -1;
		pfd[0].events = pfd[1].events = pfd[2].events = POLLIN;
		n = status_pollfds(s->s_status, pfd + 3);
		timeout = status_timeout(s->s_status, timeout);
		if (poll(pfd, 3 + n, timeout) == -1 && errno != EINTR)
			fatal("poll");
		status_events(s->s_status, s, pfd + 3, n);
		if (pfd[1].revents && s->s_trial != NULL)
			sup_verdict(s);
		else if ((pfd[1].revents || pfd[2].revents) && s->s_starting)
			sup_starting(s, pfd[1].revents != 0);
		if (!s->s_failed && (pfd[0].revents & POLLIN))
			sup_signals(s);
		if (s->s_hup && !s->s_starting) {
			s->s_hup = 0;
			sup_reload(s);
		}
	}
}

static void
sup_free(struct supervisor *s)
{
	struct gen	*g;

	while ((g = TAILQ_FIRST(&s->s_gens)) != NULL) {
		TAILQ_REMOVE(&s->s_gens, g, g_entry);
		gen_free(g);
	}
	listen_close(&s->s_listen);
	handoff_close();
	status_close(s->s_status);
	s->s_status = NULL;
	pf_remove(&s->s_pidfile);
}

/* Script and config paths made absolute, since a daemon works from "/". */
static const char *
sup_abspath(const char *arg, char *buf)
{
	if (arg == NULL || access(arg, F_OK) == -1 || arg[0] == '/')
		return arg;
	if (realpath(arg, buf) == NULL)
		return arg;
	return buf;
}

int
supervisor_main(struct config *cli, struct config *cf)
{
	struct supervisor	 s;
	char			 hpath[PATH_MAX], wpath[PATH_MAX];
	char			 fpath[PATH_MAX];

	memset(&s, 0, sizeof(s));
	TAILQ_INIT(&s.s_gens);
	s.s_pidfile.pf_fd = -1;
	cf->cf_handler = sup_abspath(cf->cf_handler, hpath);
	cf->cf_worker = sup_abspath(cf->cf_worker, wpath);
	if (cli->cf_handler != NULL)
		cli->cf_handler = cf->cf_handler;
	if (cli->cf_worker != NULL)
		cli->cf_worker = cf->cf_worker;
	/* A reload reads the config file again, from "/" when detached. */
	cli->cf_file = cf->cf_file = sup_abspath(cli->cf_file, fpath);
	s.s_cli = cli;
	if (cf->cf_handler == NULL) {
		log_warnx("tcp mode needs a handler script");
		return 1;
	}
	if (cf->cf_user != NULL && proc_setuser(cf->cf_user) == -1)
		return 1;
	if ((s.s_gen = gen_new(cf, 1)) == NULL)
		return 1;
	s.s_lastid = 1;
	TAILQ_INSERT_TAIL(&s.s_gens, s.s_gen, g_entry);
	/* No bind: the rc scripts check while slua runs on the port. */
	if (cf->cf_configtest) {
		(void)printf("configuration OK\n");
		sup_free(&s);
		return 0;
	}
	if (sup_start(&s, cli, cf) == -1) {
		sup_free(&s);
		return 1;
	}
	sup_loop(&s);
	if (s.s_failed) {
		/* Nothing of a failed start stays behind. */
		sup_killall(&s);
		while (waitpid(-1, NULL, 0) > 0)
			;
	}
	sup_free(&s);
	return s.s_failed ? 1 : 0;
}
