/*
 * work.*: submitting and collecting jobs (handlers), accepting and answering
 * them (workers).  Each process talks to the broker over one datagram
 * socket (common/ipc.h); every call that waits polls that socket, so a
 * handler blocked in submit() keeps taking in its answers.
 *
 * A handler keeps, in the registry, the answers it has received and not yet
 * collected; C keeps the ids in submission order (for collect()) and in
 * arrival order (for collectany()).
 */
#include <sys/queue.h>
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

#define WORK_ANSWERS	"slua.work.answers"	/* id -> string or false */
#define WORK_ERRORS	"slua.work.errors"	/* id -> message */
#define WORK_PENDING	"slua.work.pending"	/* id -> true */
#define WORK_BATCH_MS	1	/* batched messages wait at most this */

/* A ring of job ids. */
struct idring {
	uint64_t	*r_ids;
	size_t		 r_head;
	size_t		 r_len;
	size_t		 r_cap;
};

/* A job a worker has received but not yet accepted. */
struct wjob {
	STAILQ_ENTRY(wjob)	 j_entry;
	struct ipc_hdr		 j_hdr;
	int			 j_fd;		/* its memfd, or -1 */
	size_t			 j_len;
	char			 j_data[];
};

struct work {
	enum slua_role	 w_role;
	int		 w_fd;		/* to the broker; -1: none */
	int		 w_brokerfd;	/* pidfd of the broker; -1: none */
	int		 w_dead;	/* the broker is gone */
	uint32_t	 w_slot;
	uint32_t	 w_pid;
	size_t		 w_max;		/* max-job-size */
	struct ipc_in	 w_in;
	struct ipc_out	 w_out;
	struct ipc_stats w_stats;
	int		 w_havestats;
	/*
	 * A memfd whose pages are ours to fill again: a handler's last
	 * answer, a worker's job before the current one (whose answer has
	 * gone, so no retry can need it).  Reuse spares page faults.
	 */
	int		 w_spare;
	int		 w_curfd;	/* the current job's memfd */
	int		 w_unsent;	/* messages batched since a flush */

	/* handlers */
	uint64_t	 w_nextid;
	struct idring	 w_order;	/* submitted, not yet collected */
	struct idring	 w_ready;	/* answered, in arrival order */
	size_t		 w_pending;	/* submitted, not yet answered */
	size_t		 w_uncollected;

	/* workers */
	STAILQ_HEAD(, wjob) w_jobs;
	struct ipc_hdr	 w_job;		/* the job accept() returned */
	int		 w_hasjob;	/* ... and it awaits its answer */
	unsigned long	 w_accepted;	/* jobs accepted, ever */
	int		 w_jobtimeout;	/* seconds; 0: none */
	int		 w_grace;
	/* The current job's "job timed out", ready for a signal handler. */
	char		 w_timedout[sizeof(struct ipc_hdr) + 16];
	size_t		 w_timedoutlen;
};

static int	work_answered_p(lua_State *, uint64_t);
static int	work_outstanding_p(lua_State *, uint64_t);

static struct work	 w = {
	.w_fd = -1, .w_brokerfd = -1, .w_spare = -1, .w_curfd = -1
};

static int
ring_push(struct idring *r, uint64_t id)
{
	uint64_t	*nids;
	size_t		 i, ncap;

	if (r->r_len == r->r_cap) {
		ncap = r->r_cap ? r->r_cap * 2 : 64;
		if ((nids = reallocarray(NULL, ncap, sizeof(*nids))) == NULL)
			return -1;
		for (i = 0; i < r->r_len; i++)
			nids[i] = r->r_ids[(r->r_head + i) % r->r_cap];
		free(r->r_ids);
		r->r_ids = nids;
		r->r_cap = ncap;
		r->r_head = 0;
	}
	r->r_ids[(r->r_head + r->r_len) % r->r_cap] = id;
	r->r_len++;
	return 0;
}

static uint64_t
ring_pop(struct idring *r)
{
	uint64_t	 id = r->r_ids[r->r_head];

	r->r_head = (r->r_head + 1) % r->r_cap;
	r->r_len--;
	return id;
}

/*
 * Drop the ids that keep(L, id) rejects, keeping the order.  Rings are
 * trimmed from their head as ids are used; collect(id) and collect()
 * leave ids behind in the other ring, which this clears out.
 */
static void
ring_compact(struct idring *r, lua_State *L, int (*keep)(lua_State *,
    uint64_t))
{
	size_t		 i, n = 0;
	uint64_t	 id;

	for (i = 0; i < r->r_len; i++) {
		id = r->r_ids[(r->r_head + i) % r->r_cap];
		if (keep(L, id))
			r->r_ids[(r->r_head + n++) % r->r_cap] = id;
	}
	r->r_len = n;
}

static void
ring_clear(struct idring *r)
{
	free(r->r_ids);
	memset(r, 0, sizeof(*r));
}

static void
work_common_init(int fd, size_t max)
{
	w.w_fd = fd;
	w.w_max = max;
	w.w_pid = getpid();
	if (ipc_in_init(&w.w_in, fd, max) == -1)
		fatal("work");
	ipc_out_init(&w.w_out, fd);
	STAILQ_INIT(&w.w_jobs);
}

void
work_handler_init(int fd, int brokerfd, uint32_t slot, size_t max)
{
	w.w_role = ROLE_HANDLER;
	w.w_brokerfd = brokerfd;
	w.w_slot = slot;
	work_common_init(fd, max);
}

void
work_worker_init(int fd, size_t max, int jobtimeout, int grace)
{
	w.w_role = ROLE_WORKER;
	w.w_jobtimeout = jobtimeout;
	w.w_grace = grace;
	work_common_init(fd, max);
}

/*
 * The job's time and the grace after it are up, and the script is stuck
 * in C: fail the job and die.  Called from a signal handler: send(2) and
 * _exit(2) only.  The broker reads the error before it reaps us.
 */
static void
work_killed(void)
{
	(void)!send(w.w_fd, w.w_timedout, w.w_timedoutlen, MSG_DONTWAIT);
	_exit(1);
}

static void
work_armtimeout(lua_State *L)
{
	struct ipc_hdr	 h = w.w_job;
	static const char msg[] = "job timed out";

	if (w.w_jobtimeout <= 0)
		return;
	h.h_type = IPC_ERROR;
	h.h_flags = IPC_F_LAST;
	h.h_len = sizeof(msg) - 1;
	memcpy(w.w_timedout, &h, sizeof(h));
	memcpy(w.w_timedout + sizeof(h), msg, sizeof(msg) - 1);
	w.w_timedoutlen = sizeof(h) + sizeof(msg) - 1;
	timeout_arm(L, w.w_jobtimeout, w.w_grace, msg, work_killed);
}

/* Registry table t, id: push t[id]. */
static void
work_get(lua_State *L, const char *t, uint64_t id)
{
	lua_getfield(L, LUA_REGISTRYINDEX, t);
	lua_pushnumber(L, (lua_Number)id);
	lua_rawget(L, -2);
	lua_remove(L, -2);
}

/* Registry table t, id: t[id] = the value on top (popped). */
static void
work_set(lua_State *L, const char *t, uint64_t id)
{
	lua_getfield(L, LUA_REGISTRYINDEX, t);
	lua_pushnumber(L, (lua_Number)id);
	lua_pushvalue(L, -3);
	lua_rawset(L, -3);
	lua_pop(L, 2);
}

static int
work_has(lua_State *L, const char *t, uint64_t id)
{
	int	 has;

	work_get(L, t, id);
	has = !lua_isnil(L, -1);
	lua_pop(L, 1);
	return has;
}

/* Push a message's payload: its bytes, or its memfd's. */
static void
work_pushpayload(lua_State *L, int fd, const char *data, size_t len)
{
	void	*p;

	if (fd == -1) {
		lua_pushlstring(L, data, len);
		return;
	}
	if ((p = ipc_memfd_map(fd, len)) == NULL)
		luaL_error(L, "mmap: %s", strerror(errno));
	lua_pushlstring(L, p, len);
	ipc_memfd_unmap(p, len);
}

static void
work_keepspare(int fd)
{
	if (w.w_spare != -1)
		(void)close(w.w_spare);
	w.w_spare = fd;
}

/* An answer or an error for one of our pending jobs has come. */
static void
work_answered(lua_State *L, const struct ipc_msg *m)
{
	uint64_t	 id = m->m_hdr.h_id;

	if (!work_has(L, WORK_PENDING, id)) {
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		return;		/* a job of an earlier connection */
	}
	lua_pushnil(L);
	work_set(L, WORK_PENDING, id);
	if (m->m_hdr.h_type == IPC_ERROR) {
		lua_pushlstring(L, m->m_data, m->m_len);
		work_set(L, WORK_ERRORS, id);
	} else {
		if (m->m_hdr.h_flags & IPC_F_NIL)
			lua_pushboolean(L, 0);
		else
			work_pushpayload(L, m->m_fd, m->m_data, m->m_len);
		if (m->m_fd != -1)
			work_keepspare(m->m_fd);
		work_set(L, WORK_ANSWERS, id);
	}
	w.w_pending--;
	/* Only collectany() takes from w_ready: keep it to what is left. */
	if (w.w_ready.r_len > 2 * w.w_uncollected + 64)
		ring_compact(&w.w_ready, L, work_answered_p);
	if (ring_push(&w.w_ready, id) == -1)
		luaL_error(L, "not enough memory");
}

static void
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
	j->j_hdr.h_flags = 0;
	j->j_fd = m->m_fd;
	j->j_len = m->m_len;
	if (copy > 0)
		memcpy(j->j_data, m->m_data, copy);
	STAILQ_INSERT_TAIL(&w.w_jobs, j, j_entry);
}

static void
work_message(lua_State *L, const struct ipc_msg *m)
{
	switch (m->m_hdr.h_type) {
	case IPC_ANSWER:
	case IPC_ERROR:
		if (w.w_role == ROLE_HANDLER && m->m_hdr.h_pid == w.w_pid)
			work_answered(L, m);
		else if (m->m_fd != -1)
			(void)close(m->m_fd);
		break;
	case IPC_JOB:
		if (w.w_role == ROLE_WORKER)
			work_queuejob(L, m);
		else if (m->m_fd != -1)
			(void)close(m->m_fd);
		break;
	case IPC_STATS:
		if (m->m_len == sizeof(w.w_stats)) {
			memcpy(&w.w_stats, m->m_data, sizeof(w.w_stats));
			w.w_havestats = 1;
		}
		break;
	}
}

/* The broker is gone: every job still pending fails. */
static void
work_brokerdied(lua_State *L)
{
	uint64_t	 id;

	w.w_dead = 1;
	if (w.w_role != ROLE_HANDLER)
		return;
	lua_getfield(L, LUA_REGISTRYINDEX, WORK_PENDING);
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		lua_pop(L, 1);
		id = (uint64_t)lua_tonumber(L, -1);
		lua_pushliteral(L, "broker died");
		work_set(L, WORK_ERRORS, id);
		(void)ring_push(&w.w_ready, id);
	}
	lua_pop(L, 1);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, WORK_PENDING);
	w.w_pending = 0;
}

/* Take in one datagram, if one is there: 1, or 0. */
static int
work_take(lua_State *L)
{
	struct ipc_msg	 m;
	int		 r;

	if ((r = ipc_in_read(&w.w_in)) == -1)
		luaL_error(L, "receive: %s", strerror(errno));
	if (r == 1)
		while (ipc_in_next(&w.w_in, &m))
			work_message(L, &m);
	return r;
}

/*
 * Send what we can, then wait for a datagram (or room, when we have
 * something to send) and take it in.  Callers loop until what they wait
 * for has come; a datagram at a time spares the system call that would
 * find the socket empty.
 */
static void
work_wait(lua_State *L)
{
	struct pollfd	 pfd[2];
	int		 r, n = 1;

	if (w.w_dead)
		return;
	r = ipc_out_flush(&w.w_out);
	if (r == -1) {
		work_brokerdied(L);
		return;
	}
	pfd[0].fd = w.w_fd;
	pfd[0].events = POLLIN | (r == 1 ? POLLOUT : 0);
	if (w.w_brokerfd != -1) {
		pfd[1].fd = w.w_brokerfd;
		pfd[1].events = POLLIN;
		n = 2;
	}
	if (poll(pfd, n, -1) == -1) {
		if (errno == EINTR)
			return;
		luaL_error(L, "poll: %s", strerror(errno));
	}
	if (pfd[0].revents & POLLIN)
		(void)work_take(L);
	if (n == 2 && pfd[1].revents)
		work_brokerdied(L);
}

/* The flush timer: send what waits, without waiting. */
static void
work_flushlater(lua_State *L)
{
	int	 r;

	if (w.w_dead || w.w_out.o_count == 0)
		return;
	if ((r = ipc_out_flush(&w.w_out)) == -1)
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
	if (w.w_fd != -1 && !w.w_dead && w.w_out.o_count > 0)
		(void)ipc_out_flush(&w.w_out);
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
	if ((fd = ipc_memfd_put(&w.w_spare, data, len)) == -1)
		return -1;
	if (ipc_out_addfd(&w.w_out, h, fd, len) == -1)
		luaL_error(L, "not enough memory");
	while (!w.w_dead && (r = ipc_out_flush(&w.w_out)) != 0) {
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
static void
work_send(lua_State *L, const struct ipc_hdr *h, const char *data,
    size_t len, int urgent)
{
	int	 r;

	if (len >= IPC_FDMIN && work_sendfd(L, h, data, len) == 0)
		return;
	if (ipc_out_add(&w.w_out, h, data, len) == -1)
		luaL_error(L, "not enough memory");
	if (urgent || len > IPC_FRAG) {
		while (!w.w_dead && (r = ipc_out_flush(&w.w_out)) != 0) {
			if (r == -1)
				work_brokerdied(L);
			else
				work_wait(L);
		}
		return;
	}
	if ((++w.w_unsent >= IPC_JOBBATCH || w.w_out.o_count > 1) &&
	    (r = ipc_out_flush(&w.w_out)) != 1) {
		w.w_unsent = 0;
		if (r == -1) {
			work_brokerdied(L);
			return;
		}
	}
	/* A worker's next step is accept(), which sends or arms the timer. */
	if (w.w_out.o_count > 0 && w.w_role == ROLE_HANDLER)
		timeout_flush(L, WORK_BATCH_MS, work_flushlater);
}

static void
work_checksize(lua_State *L, const char *what, size_t len)
{
	if (len > w.w_max)
		luaL_error(L, "%s too large (%f bytes; max-job-size is %f)",
		    what, (lua_Number)len, (lua_Number)w.w_max);
}

static void
work_hdr(struct ipc_hdr *h, int type)
{
	memset(h, 0, sizeof(*h));
	h->h_type = type;
	h->h_slot = w.w_slot;
	h->h_pid = w.w_pid;
}

static int
work_forward(lua_State *L, const char *job, size_t len)
{
	struct ipc_hdr	 h;

	if (!w.w_hasjob)
		return luaL_error(L, "no job to forward to (submit in a worker "
		    "answers the current job)");
	h = w.w_job;
	h.h_type = IPC_FORWARD;
	h.h_flags = 0;
	w.w_hasjob = 0;
	timeout_disarm();
	work_send(L, &h, job, len, 0);
	lua_pushnumber(L, (lua_Number)w.w_job.h_id);
	return 1;
}

static int
work_submit(lua_State *L)
{
	struct ipc_hdr	 h;
	const char	*job;
	size_t		 len;
	uint64_t	 id;

	job = luaL_checklstring(L, 1, &len);
	if (w.w_fd == -1)
		return luaL_error(L, "no workers");
	work_checksize(L, "job", len);
	if (w.w_role == ROLE_WORKER)
		return work_forward(L, job, len);
	if (w.w_dead) {
		lua_pushnil(L);
		lua_pushliteral(L, "broker died");
		return 2;
	}
	id = ++w.w_nextid;
	lua_pushboolean(L, 1);
	work_set(L, WORK_PENDING, id);
	/* collect(id) leaves its id in w_order: keep it to what is left. */
	if (w.w_order.r_len > 2 * w.w_uncollected + 64)
		ring_compact(&w.w_order, L, work_outstanding_p);
	if (ring_push(&w.w_order, id) == -1)
		return luaL_error(L, "not enough memory");
	w.w_pending++;
	w.w_uncollected++;
	work_hdr(&h, IPC_JOB);
	h.h_id = id;
	/* Alone in the pipeline, a job goes at once: latency over batching. */
	work_send(L, &h, job, len, w.w_pending == 1);
	lua_pushnumber(L, (lua_Number)id);
	return 1;
}

/* Push the result of answered job id, forget it; returns the count. */
static int
work_result(lua_State *L, uint64_t id)
{
	work_get(L, WORK_ERRORS, id);
	if (!lua_isnil(L, -1)) {
		lua_pushnil(L);
		work_set(L, WORK_ERRORS, id);
		lua_pushnil(L);
		lua_insert(L, -2);
		w.w_uncollected--;
		return 2;
	}
	lua_pop(L, 1);
	work_get(L, WORK_ANSWERS, id);
	lua_pushnil(L);
	work_set(L, WORK_ANSWERS, id);
	if (lua_type(L, -1) == LUA_TBOOLEAN) {
		lua_pop(L, 1);
		lua_pushnil(L);
	}
	w.w_uncollected--;
	return 1;
}

static int
work_answered_p(lua_State *L, uint64_t id)
{
	return work_has(L, WORK_ANSWERS, id) || work_has(L, WORK_ERRORS, id);
}

/* Submitted and not yet collected. */
static int
work_outstanding_p(lua_State *L, uint64_t id)
{
	return work_has(L, WORK_PENDING, id) || work_answered_p(L, id);
}

static void
work_handleronly(lua_State *L, const char *fn)
{
	if (w.w_role != ROLE_HANDLER)
		luaL_error(L, "work.%s: only handlers collect", fn);
}

static int
work_collect(lua_State *L)
{
	uint64_t	 id;
	lua_Number	 n;

	work_handleronly(L, "collect");
	if (!lua_isnoneornil(L, 1)) {
		n = luaL_checknumber(L, 1);
		id = n < 1 ? 0 : (uint64_t)n;
		if (!work_has(L, WORK_PENDING, id) && !work_answered_p(L, id)) {
			lua_pushnil(L);
			lua_pushfstring(L, "no job %s is outstanding",
			    lua_tostring(L, 1));
			return 2;
		}
		while (!work_answered_p(L, id))
			work_wait(L);
		return work_result(L, id);
	}
	for (;;) {
		if (w.w_order.r_len == 0) {
			lua_pushnil(L);
			return 1;
		}
		id = w.w_order.r_ids[w.w_order.r_head];
		if (work_answered_p(L, id))
			break;
		if (work_has(L, WORK_PENDING, id))
			work_wait(L);
		else
			(void)ring_pop(&w.w_order);	/* collected by id */
	}
	(void)ring_pop(&w.w_order);
	return work_result(L, id);
}

static int
work_collectany(lua_State *L)
{
	uint64_t	 id;

	work_handleronly(L, "collectany");
	for (;;) {
		while (w.w_ready.r_len > 0) {
			id = ring_pop(&w.w_ready);
			if (work_answered_p(L, id)) {
				lua_pushnumber(L, (lua_Number)id);
				return 1 + work_result(L, id);
			}
		}
		if (w.w_pending == 0) {
			lua_pushnil(L);
			return 1;
		}
		work_wait(L);
	}
}

static int
work_active(lua_State *L)
{
	lua_pushboolean(L, w.w_role == ROLE_HANDLER && w.w_uncollected > 0);
	return 1;
}

static int
work_accept(lua_State *L)
{
	struct wjob	*j;
	struct ipc_hdr	 h;

	if (w.w_role != ROLE_WORKER)
		return luaL_error(L, "work.accept: only workers accept jobs");
	if (w.w_hasjob) {
		/* The last job was not answered: its answer is nil. */
		h = w.w_job;
		h.h_type = IPC_ANSWER;
		h.h_flags = IPC_F_NIL;
		w.w_hasjob = 0;
		timeout_disarm();
		work_send(L, &h, NULL, 0, 0);
	}
	if (STAILQ_FIRST(&w.w_jobs) != NULL && w.w_out.o_count > 0)
		timeout_flush(L, WORK_BATCH_MS, work_flushlater);
	while ((j = STAILQ_FIRST(&w.w_jobs)) == NULL)
		work_wait(L);
	STAILQ_REMOVE_HEAD(&w.w_jobs, j_entry);
	w.w_job = j->j_hdr;
	w.w_hasjob = 1;
	w.w_accepted++;
	work_armtimeout(L);
	/* The job before this one is answered: its memfd is ours now. */
	if (w.w_curfd != -1)
		work_keepspare(w.w_curfd);
	w.w_curfd = j->j_fd;
	work_pushpayload(L, j->j_fd, j->j_data, j->j_len);
	free(j);
	lua_pushvalue(L, -1);
	lua_setfield(L, lua_upvalueindex(1), "job");
	return 1;
}

static int
work_answer(lua_State *L)
{
	struct ipc_hdr	 h;
	const char	*s;
	size_t		 len = 0;

	if (w.w_role != ROLE_WORKER)
		return luaL_error(L, "work.answer: only workers answer jobs");
	s = luaL_optlstring(L, 1, NULL, &len);
	if (!w.w_hasjob)
		return luaL_error(L, "work.answer: no job to answer");
	work_checksize(L, "answer", len);
	h = w.w_job;
	h.h_type = IPC_ANSWER;
	h.h_flags = s == NULL ? IPC_F_NIL : 0;
	w.w_hasjob = 0;
	timeout_disarm();
	work_send(L, &h, s, len, 0);
	lua_pushboolean(L, 1);
	return 1;
}

static int
work_stats(lua_State *L, int which)
{
	struct ipc_hdr	 h;
	uint32_t	 v;

	if (w.w_fd == -1 || w.w_dead) {
		lua_pushinteger(L, 0);
		return 1;
	}
	work_hdr(&h, IPC_STATS);
	w.w_havestats = 0;
	work_send(L, &h, NULL, 0, 1);
	while (!w.w_havestats && !w.w_dead)
		work_wait(L);
	v = which == 0 ? w.w_stats.s_backlog : which == 1 ?
	    w.w_stats.s_idle : w.w_stats.s_pool;
	lua_pushinteger(L, w.w_dead ? 0 : (lua_Integer)v);
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

	while (!w.w_dead && w.w_out.o_count > 0 &&
	    (r = ipc_out_flush(&w.w_out)) != 0) {
		if (r == -1)
			work_brokerdied(L);
		else
			work_wait(L);
	}
}

/* After the handler script: let every submitted job finish. */
void
work_drain(lua_State *L)
{
	while (w.w_role == ROLE_HANDLER && w.w_pending > 0 && !w.w_dead)
		work_wait(L);
}

/* A new connection starts with nothing outstanding. */
void
work_reset(lua_State *L)
{
	static const char	*tables[] = {
		WORK_ANSWERS, WORK_ERRORS, WORK_PENDING
	};
	size_t			 i;

	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		lua_newtable(L);
		lua_setfield(L, LUA_REGISTRYINDEX, tables[i]);
	}
	ring_clear(&w.w_order);
	ring_clear(&w.w_ready);
	w.w_pending = w.w_uncollected = 0;
}

int
work_brokerdead(void)
{
	return w.w_dead;
}

unsigned long
work_accepted(void)
{
	return w.w_accepted;
}

/*
 * The worker script failed: its unanswered job fails with it, with
 * "worker error: msg", or just msg when raw.
 */
void
work_worker_abort(const char *msg, int raw)
{
	struct ipc_hdr	 h;
	char		 buf[1024];
	int		 n, r;

	if (!w.w_hasjob)
		return;
	h = w.w_job;
	h.h_type = IPC_ERROR;
	h.h_flags = 0;
	w.w_hasjob = 0;
	n = snprintf(buf, sizeof(buf), "%s%s", raw ? "" : "worker error: ",
	    msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(buf))
		n = sizeof(buf) - 1;
	if (ipc_out_add(&w.w_out, &h, buf, n) == -1)
		return;
	/* The broker always reads its workers, so this wait is short. */
	while ((r = ipc_out_flush(&w.w_out)) == 1) {
		struct pollfd	 pfd = { .fd = w.w_fd, .events = POLLOUT };

		(void)poll(&pfd, 1, 1000);
	}
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

int
luaopen_slua_work(lua_State *L)
{
	const luaL_Reg	*f;

	lua_newtable(L);
	for (f = work_funcs; f->name != NULL; f++) {
		lua_pushvalue(L, -1);	/* accept() sets work.job */
		lua_pushcclosure(L, f->func, 1);
		lua_setfield(L, -2, f->name);
	}
	lua_pushvalue(L, -1);
	lua_setglobal(L, "work");
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, "slua.work");
	work_reset(L);
	return 1;
}
