/*
 * A worker process: runs the worker script, which loops on work.accept()
 * and work.answer().  When the script raises an error, its current job
 * fails with "worker error: <message>", the error is logged, and the
 * script starts again in a fresh Lua state; the process lives on.  A
 * script that fails or ends before its first work.accept() tells the
 * broker why and exits: the broker restarts it with back-off, and fails
 * the queue when it keeps failing (worker/pool.c).  One that fails or ends
 * before taking a job later on is restarted after a growing pause, so it
 * cannot spin.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "log.h"
#include "slualib.h"
#include "util.h"
#include "timeout.h"
#include "work.h"

#define WORKER_PAUSE_MS		100
#define WORKER_MAXPAUSE_MS	5000

/* Run the script once: 0, or -1 and why, or 1 when its job timed out. */
static int
worker_run(const struct config *cf, const struct script *sc, char *err,
    size_t errlen)
{
	lua_State	*L;
	const char	*msg;
	int		 status, late;

	L = slua_newstate(ROLE_WORKER);
	timeout_state(L);
	if ((status = script_require(L, cf)) == 0)
		status = script_load(L, sc);
	if (status == 0)
		status = lua_pcall(L, 0, 0, 0);
	late = timeout_fired();
	timeout_release(L);
	if (status != 0) {
		msg = lua_tostring(L, -1);
		(void)snprintf(err, errlen, "%s", msg != NULL ? msg :
		    "(error object is not a string)");
	}
	lua_close(L);
	if (status == 0)
		return 0;
	return late ? 1 : -1;
}

void
worker_main(struct config *cf, const struct script *sc, int fd,
    pid_t broker)
{
	char		 err[1024];
	unsigned long	 accepted;
	int		 pause = 0, r;

	proc_child("worker", broker);
	timeout_status(work_worker_status);
	/* Whole lines reach stdout as they are written, even on a pipe. */
	(void)setvbuf(stdout, NULL, _IOLBF, 0);
	work_worker_init(fd, cf->cf_max_job_size, cf->cf_job_timeout,
	    cf->cf_grace);
	for (;;) {
		accepted = work_accepted();
		r = worker_run(cf, sc, err, sizeof(err));
		if (accepted == 0 && work_accepted() == 0) {
			if (r == 0)
				(void)strlcpy(err, "the worker script ended "
				    "before work.accept()", sizeof(err));
			log_warnx("%s", err);
			work_worker_startfail(err);
			exit(1);
		}
		switch (r) {
		case 1:
			log_warnx("job timed out");
			work_worker_abort("job timed out", 1);
			break;
		case -1:
			log_warnx("%s", err);
			work_worker_abort(err, 0);
			break;
		default:
			work_worker_abort("the worker script ended without "
			    "answering", 0);
		}
		if (work_accepted() != accepted) {
			pause = 0;
			continue;
		}
		pause = pause ? pause * 2 : WORKER_PAUSE_MS;
		if (pause > WORKER_MAXPAUSE_MS)
			pause = WORKER_MAXPAUSE_MS;
		(void)usleep(pause * 1000);
	}
}
