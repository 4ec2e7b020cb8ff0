/*
 * A worker-only host: `slua --queue URL --worker worker.lua`, no handler
 * and no port.  This process is the parent of a broker that takes jobs
 * from the shared queue (worker/queue_job.c) to its pool of workers.
 *
 * It starts as the server does (server/start.c): the worker script is
 * compiled and the pidfile locked while slua can still say why not on the
 * terminal; then, with -d, it detaches, and the waiting parent exits 0
 * once a worker has reached work.accept(), or 1 with the reason the
 * workers cannot start (server/daemon.c); systemd's NOTIFY_SOCKET hears
 * the same.  In the foreground otherwise it serves at once.
 *
 * HUP starts a new generation (worker/hostgen.c) from the config and the
 * worker script as they are now, beside the running one; once a worker of
 * it has reached work.accept() it takes over, and the old broker stops
 * reading jobs, finishes those it holds and writes their answers, then
 * exits.  A script that does not compile, or whose workers cannot start,
 * leaves the running generation alone.
 *
 * TERM or INT stop it as they stop a server: each broker stops reading
 * jobs, finishes those it holds and writes their answers, within the
 * grace period.  The current broker dying otherwise ends the host, status
 * 1: its jobs are claimed by the other hosts.
 */
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "host.h"
#include "log.h"
#include "util.h"

static void
host_discard(struct host *h, struct hgen *g)
{
	if (h->h_trial == g)
		h->h_trial = NULL;
	hgen_retire(g);
}

static void
host_kept(struct host *h)
{
	daemon_notify("READY=1\nSTATUS=reload failed; still running "
	    "generation %d", h->h_cur->hg_id);
}

/* The trial's workers start: it takes the jobs from now on. */
static void
host_promote(struct host *h, struct hgen *g)
{
	hgen_retire(h->h_cur);
	h->h_cur = g;
	h->h_trial = NULL;
	log_info("generation %d started", g->hg_id);
	daemon_notify("READY=1\nSTATUS=generation %d serving", g->hg_id);
}

/* HUP: a new generation beside the running one, on trial. */
static void
host_reload(struct host *h)
{
	struct config	 cf;
	struct hgen	*g;
	struct timespec	 now;

	if (h->h_stopping)
		return;
	if (h->h_starting) {
		h->h_hup = 1;	/* once it serves */
		return;
	}
	log_info("reloading");
	clock_now(&now);
	daemon_notify("RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)now.tv_sec * 1000000 + now.tv_nsec / 1000);
	if (hgen_config(h->h_cli, &cf) == -1 ||
	    (g = hgen_new(&cf, h->h_lastid + 1)) == NULL) {
		log_warnx("reload failed: still running generation %d",
		    h->h_cur->hg_id);
		host_kept(h);
		return;
	}
	if (h->h_trial != NULL) {
		log_warnx("generation %d: a newer reload came",
		    h->h_trial->hg_id);
		host_discard(h, h->h_trial);
	}
	TAILQ_INSERT_TAIL(&h->h_gens, g, hg_entry);
	h->h_lastid = g->hg_id;
	if (hgen_start(g, 1) == -1) {
		log_warnx("reload failed: cannot start its broker; still "
		    "running generation %d", h->h_cur->hg_id);
		TAILQ_REMOVE(&h->h_gens, g, hg_entry);
		hgen_free(g);
		host_kept(h);
		return;
	}
	h->h_trial = g;
	log_info("generation %d: waiting for a worker to start", g->hg_id);
}

/* The trial's broker said whether its workers start. */
static void
host_verdict(struct host *h)
{
	struct hgen	*g = h->h_trial;
	char		 why[1024];

	switch (hgen_verdict(g, why, sizeof(why))) {
	case -1:
		return;
	case 1:
		host_promote(h, g);
		return;
	}
	log_warnx("reload failed: worker cannot start: %s; still running "
	    "generation %d", why, h->h_cur->hg_id);
	host_discard(h, g);
	host_kept(h);
}

/* The first generation serves: whoever waits for it is told. */
static void
host_started(struct host *h)
{
	h->h_starting = 0;
	if (h->h_detached)
		daemon_ready();
	log_info("started, pid %d", (int)getpid());
	if (!h->h_detached)
		daemon_notify("READY=1");
}

/* While starting under -d or systemd: the first broker's verdict. */
static void
host_startverdict(struct host *h)
{
	char	 why[1024];

	switch (hgen_verdict(h->h_cur, why, sizeof(why))) {
	case -1:
		return;
	case 1:
		host_started(h);
		return;
	}
	log_warnx("worker cannot start: %s", why);
	h->h_failed = 1;
}

static void
host_stop(struct host *h)
{
	struct hgen	*g;

	if (h->h_stopping)
		return;
	log_info("stopping");
	h->h_stopping = 1;
	h->h_starting = 0;
	h->h_trial = NULL;
	daemon_notify("STOPPING=1");
	TAILQ_FOREACH(g, &h->h_gens, hg_entry)
		hgen_retire(g);
}

static void
host_died(struct host *h, struct hgen *g, int status)
{
	g->hg_broker = 0;
	g->hg_status = status;
	/* A trial's broker said why, or dies before it could: that is why. */
	if (g == h->h_trial)
		host_verdict(h);
	if (g == h->h_cur && !h->h_stopping) {
		log_warnx("broker died (%s %d)", WIFSIGNALED(status) ?
		    "signal" : "status", WIFSIGNALED(status) ?
		    WTERMSIG(status) : WEXITSTATUS(status));
		h->h_failed = 1;
	}
}

/* Reap brokers; generations whose broker is gone go, but the current. */
static void
host_reap(struct host *h)
{
	struct hgen	*g, *next;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		TAILQ_FOREACH(g, &h->h_gens, hg_entry)
			if (g->hg_broker == pid) {
				host_died(h, g, status);
				break;
			}
	for (g = TAILQ_FIRST(&h->h_gens); g != NULL; g = next) {
		next = TAILQ_NEXT(g, hg_entry);
		if (g->hg_broker != 0 || g == h->h_cur || g == h->h_trial)
			continue;
		log_debug("generation %d is gone", g->hg_id);
		TAILQ_REMOVE(&h->h_gens, g, hg_entry);
		hgen_free(g);
	}
}

/* Each broker knows its own counts, a retiring one too. */
static void
host_status(struct host *h)
{
	struct hgen	*g;

	TAILQ_FOREACH(g, &h->h_gens, hg_entry)
		if (g->hg_broker != 0)
			(void)kill(g->hg_broker, SIGUSR1);
}

static void
host_signals(struct host *h)
{
	struct signalfd_siginfo	 si;

	while (read(h->h_sigfd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			host_reap(h);
			break;
		case SIGTERM:
		case SIGINT:
			host_stop(h);
			break;
		case SIGHUP:
			host_reload(h);
			break;
		case SIGUSR1:
			host_status(h);
			break;
		}
	}
}

static int
host_brokers(const struct host *h)
{
	const struct hgen	*g;
	int			 n = 0;

	TAILQ_FOREACH(g, &h->h_gens, hg_entry)
		if (g->hg_broker != 0)
			n++;
	return n;
}

/* Until the brokers are gone, after TERM, or the host fails. */
static void
host_loop(struct host *h)
{
	struct pollfd	 pfd[2];

	while (!h->h_failed && !(h->h_stopping && host_brokers(h) == 0)) {
		pfd[0].fd = h->h_sigfd;
		pfd[1].fd = h->h_trial != NULL ? h->h_trial->hg_readyfd :
		    h->h_starting ? h->h_cur->hg_readyfd : -1;
		pfd[0].events = pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd[1].revents && h->h_trial != NULL)
			host_verdict(h);
		else if (pfd[1].revents && h->h_starting)
			host_startverdict(h);
		if (!h->h_failed && (pfd[0].revents & POLLIN))
			host_signals(h);
		if (h->h_hup && !h->h_starting) {
			h->h_hup = 0;
			host_reload(h);
		}
	}
}

/*
 * What can fail is tried before detaching, where it is said on the
 * terminal: the worker script, the pidfile's lock.  -1 when the start
 * failed, said why.
 */
static int
host_start(struct host *h, const struct config *cf)
{
	daemon_notifyinit();
	if ((cf->cf_daemon == 1 || h->h_cli->cf_pidfile != NULL) &&
	    pf_open(&h->h_pidfile, cf->cf_pidfile) == -1)
		return -1;
	if (cf->cf_user == NULL && geteuid() == 0)
		log_warnx("running as root: consider -u");
	if (cf->cf_daemon == 1) {
		daemon_detach();
		h->h_detached = 1;
	}
	if (h->h_pidfile.pf_fd != -1 && pf_write(&h->h_pidfile) == -1)
		return -1;
	h->h_sigfd = proc_signalfd();
	setproctitle("%s", "host");
	log_setrole("host");
	h->h_starting = h->h_detached || daemon_notifying();
	if (hgen_start(h->h_cur, h->h_starting) == -1)
		return -1;
	if (!h->h_starting)
		host_started(h);
	return 0;
}

/* A failed host leaves nothing behind: its brokers' jobs are claimed. */
static void
host_killall(struct host *h)
{
	struct hgen	*g;

	TAILQ_FOREACH(g, &h->h_gens, hg_entry)
		if (g->hg_broker != 0)
			(void)kill(g->hg_broker, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

/* 0 when the brokers stopped because we asked, else 1. */
static int
host_end(struct host *h)
{
	int	 status = h->h_cur->hg_status;

	if (h->h_failed) {
		host_killall(h);
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	log_warnx("broker died (%s %d)", WIFSIGNALED(status) ? "signal" :
	    "status", WIFSIGNALED(status) ? WTERMSIG(status) :
	    WEXITSTATUS(status));
	return 1;
}

static void
host_free(struct host *h)
{
	struct hgen	*g;

	while ((g = TAILQ_FIRST(&h->h_gens)) != NULL) {
		TAILQ_REMOVE(&h->h_gens, g, hg_entry);
		hgen_free(g);
	}
	if (h->h_sigfd != -1)
		(void)close(h->h_sigfd);
	pf_remove(&h->h_pidfile);
}

/* A path made absolute in buf, since a daemon works from "/". */
static const char *
host_abspath(const char *path, char *buf)
{
	if (path == NULL || path[0] == '/' || access(path, F_OK) == -1 ||
	    realpath(path, buf) == NULL)
		return path;
	return buf;
}

/* The paths a reload reads again: the worker script's, the config's. */
static void
host_paths(struct host *h, struct config *cli, struct config *cf)
{
	cf->cf_worker = host_abspath(cf->cf_worker, h->h_wpath);
	if (cli->cf_worker != NULL)
		cli->cf_worker = cf->cf_worker;
	cli->cf_file = cf->cf_file = host_abspath(cli->cf_file, h->h_fpath);
}

int
host_main(struct config *cli, struct config *cf)
{
	struct host	 h;
	int		 status;

	memset(&h, 0, sizeof(h));
	TAILQ_INIT(&h.h_gens);
	h.h_sigfd = -1;
	h.h_pidfile.pf_fd = -1;
	h.h_cli = cli;
	host_paths(&h, cli, cf);
	if (cf->cf_user != NULL && proc_setuser(cf->cf_user) == -1)
		return 1;
	if ((h.h_cur = hgen_new(cf, 1)) == NULL)
		return 1;
	h.h_lastid = 1;
	TAILQ_INSERT_TAIL(&h.h_gens, h.h_cur, hg_entry);
	if (host_start(&h, cf) == -1) {
		host_killall(&h);
		host_free(&h);
		return 1;
	}
	host_loop(&h);
	status = host_end(&h);
	host_free(&h);
	return status;
}
