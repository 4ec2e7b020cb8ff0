/*
 * A worker-only host: `slua --queue URL --worker worker.lua`, no handler
 * and no port.  This process is the parent of a broker that takes jobs
 * from the shared queue (worker/queue_job.c) to its pool of workers.
 * TERM or INT stop it as they stop a server: the broker stops reading
 * jobs, finishes those it holds and writes their answers, within the
 * grace period.  A broker that dies otherwise ends the host, status 1:
 * its jobs are claimed by the other hosts.
 */
#include <sys/signalfd.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "server.h"
#include "slualib.h"
#include "util.h"

/* The broker's end: 0 when it stopped because we asked, else 1. */
static int
host_wait(int sigfd, pid_t broker)
{
	struct signalfd_siginfo	 si;
	struct pollfd		 pfd = { .fd = sigfd, .events = POLLIN };
	int			 status, stopping = 0;

	for (;;) {
		if (poll(&pfd, 1, -1) == -1 && errno != EINTR)
			fatal("poll");
		while (read(sigfd, &si, sizeof(si)) == sizeof(si)) {
			switch (si.ssi_signo) {
			case SIGTERM:
			case SIGINT:
				stopping = 1;
				(void)kill(broker, SIGTERM);
				break;
			case SIGUSR1:
				(void)kill(broker, SIGUSR1);
				break;
			}
		}
		if (waitpid(broker, &status, WNOHANG) != broker)
			continue;
		if (stopping && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			return 0;
		log_warnx("broker died (%s %d)", WIFSIGNALED(status) ?
		    "signal" : "status", WIFSIGNALED(status) ?
		    WTERMSIG(status) : WEXITSTATUS(status));
		return 1;
	}
}

int
host_main(struct config *cf)
{
	struct script	 worker;
	pid_t		 broker;
	int		 sigfd, status;

	if (script_open(&worker, cf->cf_worker) == -1)
		return 1;
	sigfd = proc_signalfd();
	(void)fflush(stdout);
	if ((broker = broker_start(cf, &worker, NULL, 0, -1)) == -1)
		fatal("fork");
	status = host_wait(sigfd, broker);
	(void)close(sigfd);
	script_free(&worker);
	return status;
}
