/*
 * work.*: submitting and collecting jobs (handlers), accepting and answering
 * them (workers).  Each process talks to the broker over one datagram
 * socket (common/ipc.h); every call that waits polls that socket, so a
 * handler blocked in submit() keeps taking in its answers.  This file is
 * that link: waiting, sending, batching, and the table of functions; the
 * handler's and the worker's sides are lua/work_handler.c and
 * lua/work_worker.c.
 */
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "log.h"
#include "slualib.h"
#include "timeout.h"
#include "work.h"
#include "workint.h"

struct work	 wk = {
	.w_fd = -1, .w_brokerfd = -1, .w_spare = -1, .w_curfd = -1
};

static void
work_common_init(int fd, size_t max)
{
	wk.w_fd = fd;
	wk.w_max = max;
	wk.w_pid = getpid();
	if (ipc_in_init(&wk.w_in, fd, max) == -1)
		fatal("work");
	ipc_out_init(&wk.w_out, fd);
	STAILQ_INIT(&wk.w_jobs);
}

void
work_handler_init(int fd, int brokerfd, uint32_t slot, size_t max)
{
	wk.w_role = ROLE_HANDLER;
	wk.w_brokerfd = brokerfd;
	wk.w_slot = slot;
	work_common_init(fd, max);
}

void
work_worker_init(int fd, size_t max, int jobtimeout, int grace)
{
	wk.w_role = ROLE_WORKER;
	wk.w_jobtimeout = jobtimeout;
	wk.w_grace = grace;
	work_common_init(fd, max);
	/* os.exit() in the script: what it answered still goes. */
	if (atexit(work_worker_exit) != 0)
		fatalx("atexit");
}

/* Push a message's payload: its bytes, or its memfd's. */
void
work_pushpayload(lua_State *L, int fd, const char *data, size_t len)
{
	const void	*p;

	if (fd == -1) {
		lua_pushlstring(L, data, len);
		return;
	}
	if ((p = ipc_memfd_map(fd, len)) == NULL)
		luaL_error(L, "mmap: %s", strerror(errno));
	lua_pushlstring(L, p, len);
	ipc_memfd_unmap(p, len);
}

void
work_keepspare(int fd)
{
	if (wk.w_spare != -1)
		(void)close(wk.w_spare);
	wk.w_spare = fd;
}

void
work_message(lua_State *L, const struct ipc_msg *m)
{
	switch (m->m_hdr.h_type) {
	case IPC_ANSWER:
	case IPC_ERROR:
		if (wk.w_role == ROLE_HANDLER && m->m_hdr.h_pid == wk.w_pid)
			work_answered(L, m);
		else if (m->m_fd != -1)
			(void)close(m->m_fd);
		break;
	case IPC_JOB:
		if (wk.w_role == ROLE_WORKER)
			work_queuejob(L, m);
		else if (m->m_fd != -1)
			(void)close(m->m_fd);
		break;
	case IPC_STATS:
		if (m->m_len == sizeof(wk.w_stats)) {
			memcpy(&wk.w_stats, m->m_data, sizeof(wk.w_stats));
			wk.w_havestats = 1;
		}
		break;
	}
}

/* Take in one datagram, if one is there: 1, or 0. */
static int
work_take(lua_State *L)
{
	struct ipc_msg	 m;
	int		 r;

	if ((r = ipc_in_read(&wk.w_in)) == -1)
		luaL_error(L, "receive: %s", strerror(errno));
	if (r == 1)
		while (ipc_in_next(&wk.w_in, &m))
			work_message(L, &m);
	return r;
}

/*
 * Send what we can, then wait for a datagram (or room, when we have
 * something to send) and take it in.  Callers loop until what they wait
 * for has come; a datagram at a time spares the system call that would
 * find the socket empty.
 */
void
work_wait(lua_State *L)
{
	struct pollfd	 pfd[2];
	int		 r, n = 1;

	if (wk.w_dead)
		return;
	/* A status asked for while LuaJIT ran compiled code, hookless. */
	timeout_status_run();
	r = work_outflush();
	if (r == -1) {
		work_brokerdied(L);
		return;
	}
	pfd[0].fd = wk.w_fd;
	pfd[0].events = POLLIN | (r == 1 ? POLLOUT : 0);
	if (wk.w_brokerfd != -1) {
		pfd[1].fd = wk.w_brokerfd;
		pfd[1].events = POLLIN;
		n = 2;
	}
	if (poll(pfd, n, -1) == -1) {
		if (errno == EINTR) {
			timeout_status_run();
			return;
		}
		luaL_error(L, "poll: %s", strerror(errno));
	}
	if (pfd[0].revents & POLLIN)
		(void)work_take(L);
	if (n == 2 && pfd[1].revents)
		work_brokerdied(L);
}

/* The flush timer: send what waits, without waiting. */
void
work_flushlater(lua_State *L)
{
	int	 r;

	if (wk.w_dead || (wk.w_out.o_count == 0 && !work_direct_pending()))
		return;
	if ((r = work_outflush()) == -1)
		work_brokerdied(L);
	else if (r == 1)
		timeout_flush(L, WORK_BATCH_MS, work_flushlater);
}

/*
 * Send what is batched, without waiting; for a process about to block
 * outside work.* (a client read, a sleep).
 */
void
work_flush(void)
{
	if (wk.w_fd != -1 && !wk.w_dead && (wk.w_out.o_count > 0 ||
	    work_direct_pending()))
		(void)work_outflush();
}

/*
 * A large payload goes in a memfd: all that is queued goes first (so a
 * job whose memfd we reuse has had its answer sent), then this.  Returns
 * -1 when no memfd could be had, to send the bytes instead.
 */
static int
work_sendfd(lua_State *L, const struct ipc_hdr *h, const char *data,
    size_t len)
{
	int	 fd, r;

	work_finish(L);
	if ((fd = ipc_memfd_put(&wk.w_spare, data, len)) == -1)
		return -1;
	if (ipc_out_addfd(&wk.w_out, h, fd, len) == -1)
		luaL_error(L, "not enough memory");
	while (!wk.w_dead && (r = work_outflush()) != 0) {
		if (r == -1)
			work_brokerdied(L);
		else
			work_wait(L);
	}
	return 0;
}

/*
 * Queue a message.  An urgent one is sent at once, all of it, taking in
 * answers meanwhile.  Others are batched: they leave when a datagram is
 * full, before the process waits, or WORK_BATCH_MS later, whichever comes
 * first; so many jobs or answers share a system call.
 */
void
work_send(lua_State *L, const struct ipc_hdr *h, const char *data,
    size_t len, int urgent)
{
	int	 r;

	if (len >= IPC_FDMIN && work_sendfd(L, h, data, len) == 0)
		return;
	work_direct_settle();		/* what was answered before */
	if (ipc_out_add(&wk.w_out, h, data, len) == -1)
		luaL_error(L, "not enough memory");
	if (urgent || len > IPC_FRAG) {
		while (!wk.w_dead && (r = work_outflush()) != 0) {
			if (r == -1)
				work_brokerdied(L);
			else
				work_wait(L);
		}
		return;
	}
	if ((++wk.w_unsent >= IPC_JOBBATCH || wk.w_out.o_count > 1) &&
	    (r = work_outflush()) != 1) {
		wk.w_unsent = 0;
		if (r == -1) {
			work_brokerdied(L);
			return;
		}
	}
	/* A worker's next step is accept(), which sends or arms the timer. */
	if (wk.w_out.o_count > 0 && wk.w_role == ROLE_HANDLER)
		timeout_flush(L, WORK_BATCH_MS, work_flushlater);
}

void
work_checksize(lua_State *L, const char *what, size_t len)
{
	if (len > wk.w_max)
		luaL_error(L, "%s too large (%f bytes; max-job-size is %f)",
		    what, (lua_Number)len, (lua_Number)wk.w_max);
}

void
work_hdr(struct ipc_hdr *h, int type)
{
	memset(h, 0, sizeof(*h));
	h->h_type = type;
	h->h_slot = wk.w_slot;
	h->h_pid = wk.w_pid;
}

static int
work_stats(lua_State *L, int which)
{
	struct ipc_hdr	 h;
	uint32_t	 v;

	if (wk.w_fd == -1 || wk.w_dead) {
		lua_pushinteger(L, 0);
		return 1;
	}
	work_hdr(&h, IPC_STATS);
	wk.w_havestats = 0;
	work_send(L, &h, NULL, 0, 1);
	while (!wk.w_havestats && !wk.w_dead)
		work_wait(L);
	v = which == 0 ? wk.w_stats.s_backlog : which == 1 ?
	    wk.w_stats.s_idle : wk.w_stats.s_pool;
	lua_pushinteger(L, wk.w_dead ? 0 : (lua_Integer)v);
	return 1;
}

static int
work_backlog(lua_State *L)
{
	return work_stats(L, 0);
}

static int
work_idle(lua_State *L)
{
	return work_stats(L, 1);
}

static int
work_pool(lua_State *L)
{
	return work_stats(L, 2);
}

/* After a connection's script: every job it submitted is on its way. */
void
work_finish(lua_State *L)
{
	int	 r;

	while (!wk.w_dead && (wk.w_out.o_count > 0 || work_direct_pending()) &&
	    (r = work_outflush()) != 0) {
		if (r == -1)
			work_brokerdied(L);
		else
			work_wait(L);
	}
}

int
work_brokerdead(void)
{
	return wk.w_dead;
}

static const luaL_Reg work_funcs[] = {
	{ "submit",	work_submit },
	{ "collect",	work_collect },
	{ "collectany",	work_collectany },
	{ "active",	work_active },
	{ "accept",	work_accept },
	{ "answer",	work_answer },
	{ "backlog",	work_backlog },
	{ "idle",	work_idle },
	{ "pool",	work_pool },
	{ NULL,		NULL }
};

/*
 * The table work holds only work.job (a worker's): its functions are its
 * metatable's __index, so that a tcp handler's check of what a connection
 * reached (lua/isolate.c) finds it empty at once instead of walking it.
 */
int
luaopen_slua_work(lua_State *L)
{
	const luaL_Reg	*f;
	int		 work;

	lua_newtable(L);
	work = lua_gettop(L);
	lua_createtable(L, 0, 1);		/* its metatable */
	lua_newtable(L);			/* its functions */
	for (f = work_funcs; f->name != NULL; f++) {
		lua_pushvalue(L, work);	/* accept() sets work.job */
		lua_pushcclosure(L, f->func, 1);
		lua_setfield(L, -2, f->name);
	}
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, work);
	lua_pushvalue(L, -1);
	lua_setglobal(L, "work");
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, "slua.work");
	work_reset(L);
	return 1;
}
