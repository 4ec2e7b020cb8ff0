/*
 * tcp mode's parent: the supervisor.  It reads the scripts, binds the
 * listeners and loads TLS while it can still report on the terminal, then
 * forks the broker (which forks the workers) and one handler per slot, and
 * from then on only watches: a dead child is logged and replaced, TERM and
 * INT stop everything gracefully.
 *
 * Each handler slot has its own datagram socketpair to the broker, made
 * here once; a replacement handler takes over its slot's socket, and the
 * broker's answers carry the handler's pid, so it ignores what was meant
 * for the one it replaced.
 */
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "slualib.h"
#include "util.h"

#define SUP_YOUNG_MS	1000	/* a child dying younger is failing */
#define SUP_BACKOFF_MS	100
#define SUP_MAXBACK_MS	10000

struct slot {
	pid_t		 sl_pid;	/* 0: none */
	int		 sl_hfd;	/* the handler's end */
	int		 sl_bfd;	/* the broker's end */
	struct timespec	 sl_started;
	struct timespec	 sl_spawnat;	/* respawn not before */
	int		 sl_fails;	/* young deaths in a row */
};

struct supervisor {
	struct config	*s_cf;
	const char	*s_progname;
	struct script	 s_handler;
	struct script	 s_worker;
	int		 s_hasworker;
	struct listener	 s_listen;
	SSL_CTX		*s_tls;
	int		 s_sigfd;
	struct slot	*s_slots;
	int		 s_nslots;
	pid_t		 s_broker;
	struct timespec	 s_brokerstart;
	struct timespec	 s_brokerat;
	int		 s_brokerfails;
	int		 s_stopping;
	struct timespec	 s_deadline;
	unsigned long	 s_restarts;
};

static int
sup_delay(int fails)
{
	long long	 ms;

	if (fails <= 1)
		return 0;
	ms = (long long)SUP_BACKOFF_MS << (fails - 2 > 10 ? 10 : fails - 2);
	return ms > SUP_MAXBACK_MS ? SUP_MAXBACK_MS : (int)ms;
}

static int
sup_prepare(struct supervisor *s)
{
	struct config	*cf = s->s_cf;

	if (script_open(&s->s_handler, cf->cf_handler) == -1)
		return -1;
	if (cf->cf_worker != NULL) {
		if (script_open(&s->s_worker, cf->cf_worker) == -1)
			return -1;
		s->s_hasworker = 1;
	}
	if ((cf->cf_tls_cert == NULL) != (cf->cf_tls_key == NULL)) {
		log_warnx("%s needs %s too", cf->cf_tls_cert ? "--tls-cert" :
		    "--tls-key", cf->cf_tls_cert ? "--tls-key" : "--tls-cert");
		return -1;
	}
	if (cf->cf_tls_cert != NULL &&
	    (s->s_tls = tls_init(cf->cf_tls_cert, cf->cf_tls_key)) == NULL)
		return -1;
	if (listen_open(&s->s_listen, cf) == -1)
		return -1;
	return 0;
}

static void
sup_slots(struct supervisor *s)
{
	int	 i, sv[2];

	s->s_nslots = s->s_cf->cf_max_handlers;
	if ((s->s_slots = calloc(s->s_nslots, sizeof(*s->s_slots))) == NULL)
		fatal("supervisor");
	for (i = 0; i < s->s_nslots; i++) {
		s->s_slots[i].sl_hfd = s->s_slots[i].sl_bfd = -1;
		if (!s->s_hasworker)
			continue;
		if (ipc_socketpair(sv) == -1)
			fatal("socketpair");
		s->s_slots[i].sl_hfd = sv[0];
		s->s_slots[i].sl_bfd = sv[1];
	}
}

static void
sup_startbroker(struct supervisor *s)
{
	int	*fds, i;

	if ((fds = reallocarray(NULL, s->s_nslots, sizeof(*fds))) == NULL)
		fatal("supervisor");
	for (i = 0; i < s->s_nslots; i++)
		fds[i] = s->s_slots[i].sl_bfd;
	s->s_broker = broker_start(s->s_cf, &s->s_worker, fds, s->s_nslots);
	free(fds);
	if (s->s_broker == -1) {
		log_warn("fork");
		s->s_broker = 0;
	}
	clock_now(&s->s_brokerstart);
}

static void
sup_starthandler(struct supervisor *s, int slot)
{
	struct handler_env	 he;
	struct slot		*sl = &s->s_slots[slot];
	pid_t			 pid, parent = getpid();
	int			 keep[LISTEN_MAX + 1], n, i;

	if ((pid = fork()) == -1) {
		log_warn("fork");
		clock_now(&sl->sl_spawnat);
		clock_add(&sl->sl_spawnat, SUP_MAXBACK_MS);
		return;
	}
	if (pid != 0) {
		sl->sl_pid = pid;
		clock_now(&sl->sl_started);
		return;
	}
	proc_child("handler", parent);
	for (n = 0, i = 0; i < s->s_listen.l_n; i++)
		keep[n++] = s->s_listen.l_fds[i];
	if (sl->sl_hfd != -1)
		keep[n++] = sl->sl_hfd;
	fd_keep(keep, n);
	memset(&he, 0, sizeof(he));
	he.he_cf = s->s_cf;
	he.he_script = &s->s_handler;
	he.he_listen = &s->s_listen;
	he.he_tls = s->s_tls;
	he.he_slot = slot;
	he.he_fd = sl->sl_hfd;
	he.he_broker = s->s_broker;
	he.he_progname = s->s_progname;
	handler_main(&he);
}

/* Start whatever is missing and due; returns ms until the next is due. */
static int
sup_fill(struct supervisor *s)
{
	struct timespec	 now;
	long long	 ms, next = -1;
	int		 i;

	if (s->s_stopping)
		return -1;
	clock_now(&now);
	if (s->s_hasworker && s->s_broker == 0) {
		if ((ms = clock_ms(&now, &s->s_brokerat)) <= 0)
			sup_startbroker(s);
		else
			next = ms;
	}
	for (i = 0; i < s->s_cf->cf_handlers; i++) {
		if (s->s_slots[i].sl_pid != 0)
			continue;
		if ((ms = clock_ms(&now, &s->s_slots[i].sl_spawnat)) <= 0)
			sup_starthandler(s, i);
		else if (next == -1 || ms < next)
			next = ms;
	}
	return (int)next;
}

/* How a child ended, for the log; returns whether it failed. */
static int
sup_how(int status, char *buf, size_t len)
{
	if (WIFSIGNALED(status)) {
		(void)snprintf(buf, len, "killed by signal %d",
		    WTERMSIG(status));
		return 1;
	}
	(void)snprintf(buf, len, "exit status %d", WEXITSTATUS(status));
	return WEXITSTATUS(status) != 0;
}

static void
sup_died(struct supervisor *s, struct timespec *started, int *fails,
    struct timespec *at, int failed)
{
	struct timespec	 now;

	clock_now(&now);
	if (failed && clock_ms(started, &now) < SUP_YOUNG_MS)
		(*fails)++;
	else
		*fails = 0;
	*at = now;
	clock_add(at, sup_delay(*fails));
	s->s_restarts++;
}

static void
sup_reap(struct supervisor *s)
{
	char	 how[64];
	pid_t	 pid;
	int	 status, failed, i;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		failed = sup_how(status, how, sizeof(how));
		if (pid == s->s_broker) {
			s->s_broker = 0;
			if (!s->s_stopping)
				log_warnx("broker %d died: %s", (int)pid, how);
			sup_died(s, &s->s_brokerstart, &s->s_brokerfails,
			    &s->s_brokerat, 1);
			continue;
		}
		for (i = 0; i < s->s_nslots; i++)
			if (s->s_slots[i].sl_pid == pid)
				break;
		if (i == s->s_nslots)
			continue;
		s->s_slots[i].sl_pid = 0;
		if (failed && !s->s_stopping)
			log_warnx("handler %d died: %s", (int)pid, how);
		sup_died(s, &s->s_slots[i].sl_started, &s->s_slots[i].sl_fails,
		    &s->s_slots[i].sl_spawnat, failed);
		if (s->s_slots[i].sl_fails > 1 && !s->s_stopping)
			log_warnx("handler failing at start: next in %d ms",
			    sup_delay(s->s_slots[i].sl_fails));
	}
}

static int
sup_handlers(struct supervisor *s)
{
	int	 i, n = 0;

	for (i = 0; i < s->s_nslots; i++)
		if (s->s_slots[i].sl_pid != 0)
			n++;
	return n;
}

static void
sup_signal(struct supervisor *s, int sig)
{
	int	 i;

	for (i = 0; i < s->s_nslots; i++)
		if (s->s_slots[i].sl_pid != 0)
			(void)kill(s->s_slots[i].sl_pid, sig);
}

static void
sup_stop(struct supervisor *s)
{
	if (s->s_stopping)
		return;
	log_info("stopping");
	s->s_stopping = 1;
	clock_now(&s->s_deadline);
	clock_add(&s->s_deadline, s->s_cf->cf_grace * 1000LL);
	listen_close(&s->s_listen);
	sup_signal(s, SIGTERM);
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
		case SIGUSR1:
			log_info("%d handlers, broker %d, %lu restarts",
			    sup_handlers(s), (int)s->s_broker, s->s_restarts);
			if (s->s_broker != 0)
				(void)kill(s->s_broker, SIGUSR1);
			break;
		}
	}
}

/* Stopping: handlers first, so their jobs can finish; then the broker. */
static int
sup_stopped(struct supervisor *s)
{
	struct timespec	 now;

	clock_now(&now);
	if (sup_handlers(s) > 0) {
		if (clock_ms(&now, &s->s_deadline) > 0)
			return 0;
		sup_signal(s, SIGKILL);
		return 0;
	}
	if (s->s_broker != 0) {
		(void)kill(s->s_broker, SIGTERM);
		while (waitpid(s->s_broker, NULL, 0) == -1 && errno == EINTR)
			;
		s->s_broker = 0;
	}
	return 1;
}

static void
sup_loop(struct supervisor *s)
{
	struct pollfd	 pfd;
	int		 timeout;

	for (;;) {
		timeout = sup_fill(s);
		if (s->s_stopping) {
			if (sup_stopped(s))
				return;
			timeout = 100;
		}
		pfd.fd = s->s_sigfd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, timeout) == -1 && errno != EINTR)
			fatal("poll");
		if (pfd.revents & POLLIN)
			sup_signals(s);
	}
}

int
supervisor_main(struct config *cf, const char *progname)
{
	struct supervisor	 s;
	sigset_t		 mask;

	memset(&s, 0, sizeof(s));
	s.s_cf = cf;
	s.s_progname = progname;
	if (cf->cf_handler == NULL) {
		log_warnx("tcp mode needs a handler script");
		return 1;
	}
	if (sup_prepare(&s) == -1)
		return 1;
	if (cf->cf_configtest) {
		(void)printf("configuration OK\n");
		return 0;
	}

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	if ((s.s_sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) ==
	    -1)
		fatal("signalfd");
	setproctitle("%s", "supervisor");
	log_setrole(NULL);

	sup_slots(&s);
	sup_loop(&s);
	return 0;
}
