/*
 * The handler's side of work.*: submit, collect, collectany, active.  The
 * answers received and not yet collected wait in registry tables; C keeps
 * the ids in submission order (for collect()) and in arrival order (for
 * collectany()).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"
#include "slualib.h"
#include "stats.h"
#include "work.h"
#include "workint.h"

#define WORK_ANSWERS	"slua.work.answers"	/* id -> string or false */
#define WORK_ERRORS	"slua.work.errors"	/* id -> message */
#define WORK_PENDING	"slua.work.pending"	/* id -> true */

static int	work_outstanding_p(lua_State *, uint64_t);

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

/* An answer or an error for one of our pending jobs has come. */
void
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
	wk.w_pending--;
	/* Only collectany() takes from w_ready: keep it to what is left. */
	if (wk.w_ready.r_len > 2 * wk.w_uncollected + 64)
		ring_compact(&wk.w_ready, L, work_answered_p);
	if (ring_push(&wk.w_ready, id) == -1)
		luaL_error(L, "not enough memory");
}

/* The broker is gone: every job still pending fails. */
void
work_brokerdied(lua_State *L)
{
	uint64_t	 id;

	wk.w_dead = 1;
	if (wk.w_role != ROLE_HANDLER)
		return;
	stats_handler.h_brokerdied += wk.w_pending;
	lua_getfield(L, LUA_REGISTRYINDEX, WORK_PENDING);
	lua_pushnil(L);
	while (lua_next(L, -2) != 0) {
		lua_pop(L, 1);
		id = (uint64_t)lua_tonumber(L, -1);
		lua_pushliteral(L, "broker died");
		work_set(L, WORK_ERRORS, id);
		(void)ring_push(&wk.w_ready, id);
	}
	lua_pop(L, 1);
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, WORK_PENDING);
	wk.w_pending = 0;
}

int
work_submit(lua_State *L)
{
	struct ipc_hdr	 h;
	const char	*job;
	size_t		 len;
	uint64_t	 id;

	job = luaL_checklstring(L, 1, &len);
	if (wk.w_fd == -1)
		return luaL_error(L, "no workers");
	work_checksize(L, "job", len);
	if (wk.w_role == ROLE_WORKER)
		return work_forward(L, job, len);
	if (wk.w_dead) {
		stats_handler.h_brokerdied++;
		lua_pushnil(L);
		lua_pushliteral(L, "broker died");
		return 2;
	}
	id = ++wk.w_nextid;
	lua_pushboolean(L, 1);
	work_set(L, WORK_PENDING, id);
	/* collect(id) leaves its id in w_order: keep it to what is left. */
	if (wk.w_order.r_len > 2 * wk.w_uncollected + 64)
		ring_compact(&wk.w_order, L, work_outstanding_p);
	if (ring_push(&wk.w_order, id) == -1)
		return luaL_error(L, "not enough memory");
	wk.w_pending++;
	wk.w_uncollected++;
	work_hdr(&h, IPC_JOB);
	h.h_id = id;
	/* Alone in the pipeline, a job goes at once: latency over batching. */
	work_send(L, &h, job, len, wk.w_pending == 1);
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
		wk.w_uncollected--;
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
	wk.w_uncollected--;
	return 1;
}

int
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
	if (wk.w_role != ROLE_HANDLER)
		luaL_error(L, "work.%s: only handlers collect", fn);
}

int
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
		if (wk.w_order.r_len == 0) {
			lua_pushnil(L);
			return 1;
		}
		id = wk.w_order.r_ids[wk.w_order.r_head];
		if (work_answered_p(L, id))
			break;
		if (work_has(L, WORK_PENDING, id))
			work_wait(L);
		else
			(void)ring_pop(&wk.w_order);	/* collected by id */
	}
	(void)ring_pop(&wk.w_order);
	return work_result(L, id);
}

int
work_collectany(lua_State *L)
{
	uint64_t	 id;

	work_handleronly(L, "collectany");
	for (;;) {
		while (wk.w_ready.r_len > 0) {
			id = ring_pop(&wk.w_ready);
			if (work_answered_p(L, id)) {
				lua_pushnumber(L, (lua_Number)id);
				return 1 + work_result(L, id);
			}
		}
		if (wk.w_pending == 0) {
			lua_pushnil(L);
			return 1;
		}
		work_wait(L);
	}
}

int
work_active(lua_State *L)
{
	lua_pushboolean(L, wk.w_role == ROLE_HANDLER && wk.w_uncollected > 0);
	return 1;
}

/* After the handler script: let every submitted job finish. */
void
work_drain(lua_State *L)
{
	while (wk.w_role == ROLE_HANDLER && wk.w_pending > 0 && !wk.w_dead)
		work_wait(L);
}

/*
 * A new connection starts with nothing outstanding.  Without a job
 * submitted since the last reset, the state's tables and the rings are
 * empty still: a connection after one that submitted none makes no
 * tables.
 */
void
work_reset(lua_State *L)
{
	static const char	*tables[] = {
		WORK_ANSWERS, WORK_ERRORS, WORK_PENDING
	};
	static uint64_t		 since = UINT64_MAX;	/* w_nextid then */
	size_t			 i;
	int			 made;

	if (wk.w_nextid == since) {
		lua_getfield(L, LUA_REGISTRYINDEX, WORK_PENDING);
		made = lua_istable(L, -1);
		lua_pop(L, 1);
		if (made)
			return;
	}
	since = wk.w_nextid;
	for (i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		lua_newtable(L);
		lua_setfield(L, LUA_REGISTRYINDEX, tables[i]);
	}
	ring_clear(&wk.w_order);
	ring_clear(&wk.w_ready);
	wk.w_pending = wk.w_uncollected = 0;
}
