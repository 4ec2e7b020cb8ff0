/*
 * The worker's side of work.*: accept and answer, submit as a forward, and
 * the job's time limit.
 */
#include <sys/socket.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "slualib.h"
#include "timeout.h"
#include "work.h"
#include "util.h"
#include "workint.h"

/*
 * The job's time and the grace after it are up, and the script is stuck
 * in C: fail the job and die, with whatever the job started (a worker
 * leads its process group).  Called from a signal handler: send(2),
 * setpgid(2), kill(2) and _exit(2) only.  The broker reads the error before it reaps
 * us.
 */
static void
work_killed(void)
{
	(void)!send(wk.w_fd, wk.w_timedout, wk.w_timedoutlen, MSG_DONTWAIT);
	proc_killgroup();
	_exit(1);
}

static void
work_armtimeout(lua_State *L)
{
	struct ipc_hdr	 h = wk.w_job;
	static const char msg[] = "job timed out";

	if (wk.w_jobtimeout <= 0)
		return;
	h.h_type = IPC_ERROR;
	h.h_flags = IPC_F_LAST;
	h.h_len = sizeof(msg) - 1;
	memcpy(wk.w_timedout, &h, sizeof(h));
	memcpy(wk.w_timedout + sizeof(h), msg, sizeof(msg) - 1);
	wk.w_timedoutlen = sizeof(h) + sizeof(msg) - 1;
	timeout_arm(L, wk.w_jobtimeout, wk.w_grace, msg, work_killed);
}

void
work_queuejob(lua_State *L, const struct ipc_msg *m)
{
	struct wjob	*j;
	size_t		 copy = m->m_fd == -1 ? m->m_len : 0;

	if ((j = malloc(sizeof(*j) + copy)) == NULL) {
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		luaL_error(L, "not enough memory");
	}
	j->j_hdr = m->m_hdr;
	j->j_flags = m->m_hdr.h_flags & IPC_F_DIRECT;
	j->j_hdr.h_flags = 0;
	j->j_fd = m->m_fd;
	j->j_len = m->m_len;
	if (copy > 0)
		memcpy(j->j_data, m->m_data, copy);
	STAILQ_INSERT_TAIL(&wk.w_jobs, j, j_entry);
}

int
work_forward(lua_State *L, const char *job, size_t len)
{
	struct ipc_hdr	 h;

	if (!wk.w_hasjob)
		return luaL_error(L, "no job to forward to (submit in a worker "
		    "answers the current job)");
	h = wk.w_job;
	h.h_type = IPC_FORWARD;
	h.h_flags = 0;
	wk.w_hasjob = 0;
	timeout_disarm();
	work_send(L, &h, job, len, 0);
	lua_pushnumber(L, (lua_Number)wk.w_job.h_id);
	return 1;
}

/* The current job's answer: to its handler, or through the broker. */
static void
work_reply(lua_State *L, struct ipc_hdr *h, const char *data, size_t len)
{
	h->h_flags |= wk.w_jobflags;
	if (work_direct_ok(h, len)) {
		work_direct_add(h, data, len);
		return;
	}
	h->h_flags &= ~IPC_F_DIRECT;
	work_send(L, h, data, len, 0);
}

int
work_accept(lua_State *L)
{
	struct wjob	*j;
	struct ipc_hdr	 h;

	if (wk.w_role != ROLE_WORKER)
		return luaL_error(L, "work.accept: only workers accept jobs");
	/* The broker counts a worker as started only from here. */
	if (wk.w_accepted == 0 && !wk.w_started) {
		work_hdr(&h, IPC_READY);
		wk.w_started = 1;
		work_send(L, &h, NULL, 0, 1);
	}
	if (wk.w_hasjob) {
		/* The last job was not answered: its answer is nil. */
		h = wk.w_job;
		h.h_type = IPC_ANSWER;
		h.h_flags = IPC_F_NIL;
		wk.w_hasjob = 0;
		timeout_disarm();
		work_reply(L, &h, NULL, 0);
	}
	/*
	 * The broker starts a job's clock when the answer before it comes:
	 * with a deadline, that answer leaves now, not batched.
	 */
	if (STAILQ_FIRST(&wk.w_jobs) != NULL && (wk.w_out.o_count > 0 ||
	    work_direct_pending())) {
		if (wk.w_jobtimeout > 0)
			work_flushlater(L);
		else
			timeout_flush(L, WORK_BATCH_MS, work_flushlater);
	}
	while ((j = STAILQ_FIRST(&wk.w_jobs)) == NULL)
		work_wait(L);
	STAILQ_REMOVE_HEAD(&wk.w_jobs, j_entry);
	wk.w_job = j->j_hdr;
	wk.w_jobflags = j->j_flags;
	wk.w_hasjob = 1;
	wk.w_accepted++;
	work_armtimeout(L);
	/* The job before this one is answered: its memfd is ours now. */
	if (wk.w_curfd != -1)
		work_keepspare(wk.w_curfd);
	wk.w_curfd = j->j_fd;
	work_pushpayload(L, j->j_fd, j->j_data, j->j_len);
	free(j);
	lua_pushvalue(L, -1);
	lua_setfield(L, lua_upvalueindex(1), "job");
	return 1;
}

int
work_answer(lua_State *L)
{
	struct ipc_hdr	 h;
	const char	*s;
	size_t		 len = 0;

	if (wk.w_role != ROLE_WORKER)
		return luaL_error(L, "work.answer: only workers answer jobs");
	s = luaL_optlstring(L, 1, NULL, &len);
	if (!wk.w_hasjob)
		return luaL_error(L, "work.answer: no job to answer");
	work_checksize(L, "answer", len);
	h = wk.w_job;
	h.h_type = IPC_ANSWER;
	h.h_flags = s == NULL ? IPC_F_NIL : 0;
	wk.w_hasjob = 0;
	timeout_disarm();
	work_reply(L, &h, s, len);
	lua_pushboolean(L, 1);
	return 1;
}

/* USR1 (lua/timeout.c): what this worker does. */
void
work_worker_status(void)
{
	if (wk.w_hasjob)
		log_info("status: %lu jobs accepted, running job %llu",
		    wk.w_accepted, (unsigned long long)wk.w_job.h_id);
	else
		log_info("status: %lu jobs accepted, waiting",
		    wk.w_accepted);
}

unsigned long
work_accepted(void)
{
	return wk.w_accepted;
}

/*
 * Send all that is batched, waiting for room: what the worker answered
 * reaches the broker before the worker exits or starts its script again.
 * The broker always reads its workers, so the wait is short.
 */
void
work_worker_drain(void)
{
	struct pollfd	 pfd;

	if (wk.w_role != ROLE_WORKER || wk.w_fd == -1)
		return;
	pfd.fd = wk.w_fd;
	pfd.events = POLLOUT;
	while (work_outflush() == 1)
		(void)poll(&pfd, 1, 1000);
}

/*
 * The process exits (os.exit() in the script): what it answered goes, and
 * the broker learns that the jobs it has not accepted never started.
 */
void
work_worker_exit(void)
{
	struct ipc_hdr	 h;

	if (wk.w_role != ROLE_WORKER || wk.w_fd == -1)
		return;
	work_hdr(&h, IPC_EXIT);
	if (wk.w_hasjob)
		h.h_flags = IPC_F_RUNNING;
	work_direct_settle();
	if (ipc_out_add(&wk.w_out, &h, NULL, 0) == -1)
		return;
	work_worker_drain();
}

/* The payload of a message to the broker, bounded. */
static void
work_worker_tell(struct ipc_hdr *h, const char *prefix, const char *msg)
{
	char	 buf[1024];
	int	 n;

	n = snprintf(buf, sizeof(buf), "%s%s", prefix, msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	work_direct_settle();
	if (ipc_out_add(&wk.w_out, h, buf, n) == -1)
		return;
	work_worker_drain();
}

/*
 * The worker script failed: its unanswered job fails with it, with
 * "worker error: msg", or just msg when raw.
 */
void
work_worker_abort(const char *msg, int raw)
{
	struct ipc_hdr	 h;

	if (!wk.w_hasjob) {
		work_worker_drain();
		return;
	}
	h = wk.w_job;
	h.h_type = IPC_ERROR;
	h.h_flags = 0;
	wk.w_hasjob = 0;
	work_worker_tell(&h, raw ? "" : "worker error: ", msg);
}

/* The script failed before its first accept(): tell the broker why. */
void
work_worker_startfail(const char *msg)
{
	struct ipc_hdr	 h;

	work_hdr(&h, IPC_STARTFAIL);
	work_worker_tell(&h, "", msg);
}
