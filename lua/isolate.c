/*
 * Isolation of a tcp handler's connections.
 *
 * Each connection gets a fresh globals table, which is also the thread's
 * globals while the connection runs, so what loadstring, dofile and
 * getfenv(0) see is the connection's, not the process's.  Its misses fall
 * through to the "front", a table holding the standard globals that are
 * not tables (print, type, ...), and from there to a function that reads
 * the standard globals, noting which library table the connection reached,
 * and remembers the answer in the connection's globals, where the next
 * use of the name finds it at once.  A connection allocates nothing but
 * its globals table, as before isolation.
 *
 * The library tables are shared by every connection.  Rather than copy
 * them for each connection, the handler keeps a copy of each ("kept"),
 * taken once its script is ready, and when a connection ends puts back
 * every key of each table the connection could reach as it was.  A table
 * is reached by name (a global, or require), through getmetatable (the
 * strings'), or, for the standard globals themselves, through getfenv on a
 * module's function.  Reaching the standard globals, package or debug
 * reaches everything: then every kept table is put back, a walk of a few
 * hundred keys.  A connection that names none of them costs nothing more.
 *
 * Modules stay loaded: require runs with the standard globals as the
 * thread's, and what loading a module added to a kept table (its
 * package.loaded entry, the global module() sets) joins the copy.
 */
#include <stdlib.h>
#include <string.h>

#include "isolate.h"
#include "isolateint.h"
#include "log.h"

#define ISO_ALL		(-1)	/* in the map: reaches every kept table */
#define ISO_ENVSLOTS	4	/* _G and the library tables named, mostly */

int			 iso_base = LUA_NOREF;	/* the standard globals */
static int		 iso_kept = LUA_NOREF;	/* live, copy, metatable, ... */
static int		 iso_map = LUA_NOREF;	/* value: kept entry, or ISO_ALL */
static int		 iso_front = LUA_NOREF;	/* base's other than tables */
static int		 iso_frontmeta = LUA_NOREF;	/* __index: fn */
static int		 iso_envmeta = LUA_NOREF;	/* __index: front */
int			 iso_env = LUA_NOREF;	/* the connection's globals */
static int		 iso_strmeta = LUA_NOREF;
int			 iso_fenvs = LUA_NOREF;	/* function: its env before */
static int		 iso_leavefn = LUA_NOREF;
static int		 iso_n;			/* kept tables */
static int		*iso_count;		/* ... the keys of each copy */
static unsigned char	*iso_dirty;		/* ... this connection reached */
static int		 iso_all;		/* it reached them all */
int			 iso_touched;		/* a table, or a function's env */

static int	iso_leave(lua_State *);

void
iso_ref(lua_State *L, int ref)
{
	lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
}

/* The connection reached the value at idx: note which kept table. */
void
iso_mark(lua_State *L, int idx)
{
	int	 e;

	if (!lua_istable(L, idx) && !lua_isfunction(L, idx))
		return;
	lua_pushvalue(L, idx);
	iso_ref(L, iso_map);
	lua_insert(L, -2);
	lua_rawget(L, -2);
	if (lua_isnumber(L, -1)) {
		e = lua_tointeger(L, -1);
		if (e == ISO_ALL)
			iso_all = iso_touched = 1;
		else if (e >= 0 && e < iso_n)
			iso_dirty[e] = iso_touched = 1;
	}
	lua_pop(L, 2);
}

/* A shallow copy of the table at idx, pushed; returns its keys. */
static int
iso_copy(lua_State *L, int idx)
{
	int	 n = 0;

	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
		n++;
	}
	return n;
}

/*
 * Keep the table at idx (once), as entry e of the kept list at kept;
 * map (at map) leads from it to e, or to ISO_ALL when all is set.
 */
static void
iso_keep(lua_State *L, int idx, int kept, int map, int all)
{
	lua_pushvalue(L, idx);
	lua_rawget(L, map);
	if (!lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	lua_pushvalue(L, idx);
	lua_pushinteger(L, all ? ISO_ALL : iso_n);
	lua_rawset(L, map);

	if ((iso_count = reallocarray(iso_count, iso_n + 1,
	    sizeof(*iso_count))) == NULL)
		fatal("isolate");
	lua_pushvalue(L, idx);
	lua_rawseti(L, kept, 3 * iso_n + 1);
	iso_count[iso_n] = iso_copy(L, idx);
	lua_rawseti(L, kept, 3 * iso_n + 2);
	if (!lua_getmetatable(L, idx))
		lua_pushboolean(L, 0);
	lua_rawseti(L, kept, 3 * iso_n + 3);
	iso_n++;
}

/*
 * Keep the metatable of the table at idx, and its __index when that is a
 * table, and so on down: client's functions are there (lua/client.c),
 * and getmetatable reaches them.
 */
static void
iso_keepmeta(lua_State *L, int idx, int kept, int map)
{
	int	 top = lua_gettop(L), mt;

	while (lua_getmetatable(L, idx)) {
		mt = lua_gettop(L);
		lua_pushvalue(L, mt);
		lua_rawget(L, map);
		if (lua_isnil(L, -1))
			iso_keep(L, mt, kept, map, 0);
		lua_pop(L, 1);
		lua_pushliteral(L, "__index");
		lua_rawget(L, mt);
		if (!lua_istable(L, -1))
			break;
		idx = lua_gettop(L);
		lua_pushvalue(L, idx);
		lua_rawget(L, map);
		if (!lua_isnil(L, -1))
			break;		/* kept already, and what it leads to */
		lua_pop(L, 1);
		iso_keep(L, idx, kept, map, 0);
	}
	lua_settop(L, top);
}

/* Keep t[name] when it is a table; t is at idx. */
static void
iso_keepfield(lua_State *L, int idx, const char *name, int kept, int map,
    int all)
{
	lua_getfield(L, idx, name);
	if (lua_istable(L, -1))
		iso_keep(L, lua_gettop(L), kept, map, all);
	lua_pop(L, 1);
}

/*
 * Put the live table at idx back as its copy (at copy, of count keys)
 * says: one walk of the live table, and one of the copy only when a key
 * is missing.  Clearing or changing a field during a walk is allowed.
 */
static void
iso_restore(lua_State *L, int idx, int copy, int count)
{
	int	 seen = 0;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pushvalue(L, -2);
		lua_rawget(L, copy);
		if (lua_isnil(L, -1)) {
			lua_pop(L, 2);
			lua_pushvalue(L, -1);
			lua_pushnil(L);
			lua_rawset(L, idx);
			continue;
		}
		seen++;
		if (!lua_rawequal(L, -1, -2)) {
			lua_pushvalue(L, -3);
			lua_insert(L, -2);
			lua_rawset(L, idx);
		} else
			lua_pop(L, 1);
		lua_pop(L, 1);
	}
	if (seen == count)
		return;
	lua_pushnil(L);
	while (lua_next(L, copy) != 0) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, idx);
	}
}

/*
 * Add to each copy what the live table has that neither the copy nor the
 * table before (pre, a list of copies in kept's order) had.
 */
static void
iso_commit(lua_State *L, int kept, int pre)
{
	int	 e;

	for (e = 0; e < iso_n; e++) {
		lua_rawgeti(L, kept, 3 * e + 1);
		lua_rawgeti(L, kept, 3 * e + 2);
		lua_rawgeti(L, pre, e + 1);
		lua_pushnil(L);
		while (lua_next(L, -4) != 0) {
			lua_pushvalue(L, -2);
			lua_rawget(L, -4);
			if (!lua_isnil(L, -1)) {
				lua_pop(L, 2);
				continue;
			}
			lua_pop(L, 1);
			lua_pushvalue(L, -2);
			lua_rawget(L, -5);
			if (!lua_isnil(L, -1)) {
				lua_pop(L, 2);
				continue;
			}
			lua_pop(L, 1);
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, -5);
			iso_count[e]++;
		}
		lua_pop(L, 3);
	}
}

/* The front is the standard globals that are not tables. */
static void
iso_syncfront(lua_State *L)
{
	int	 base, front;

	iso_ref(L, iso_base);
	base = lua_gettop(L);
	iso_ref(L, iso_front);
	front = lua_gettop(L);
	lua_pushnil(L);
	while (lua_next(L, base) != 0) {
		if (lua_istable(L, -1)) {
			lua_pop(L, 1);
			continue;
		}
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, front);
	}
	lua_pop(L, 2);
}

/* Load module name (at 1) with the standard globals as the thread's. */
static int
iso_load(lua_State *L)
{
	int	 e, kept, pre, status;

	iso_ref(L, iso_kept);
	kept = lua_gettop(L);
	lua_createtable(L, iso_n, 0);
	pre = lua_gettop(L);
	for (e = 0; e < iso_n; e++) {
		lua_rawgeti(L, kept, 3 * e + 1);
		iso_copy(L, lua_gettop(L));
		lua_rawseti(L, pre, e + 1);
		lua_pop(L, 1);
	}

	lua_pushvalue(L, LUA_GLOBALSINDEX);	/* the connection's */
	iso_ref(L, iso_base);
	lua_replace(L, LUA_GLOBALSINDEX);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	status = lua_pcall(L, 1, 1, 0);
	lua_pushvalue(L, -2);
	lua_replace(L, LUA_GLOBALSINDEX);
	if (status != 0)
		return lua_error(L);
	iso_syncfront(L);
	iso_commit(L, kept, pre);
	iso_mark(L, -1);
	return 1;
}

/*
 * require as the connection sees it.  A module already loaded (or being
 * loaded, which require reports) costs a look-up; loading one is
 * iso_load()'s.
 */
static int
iso_require(lua_State *L)
{
	luaL_checkstring(L, 1);
	lua_settop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
	if (lua_istable(L, -1)) {
		lua_pushvalue(L, 1);
		lua_rawget(L, -2);
		if (lua_toboolean(L, -1)) {
			lua_settop(L, 1);
			lua_pushvalue(L, lua_upvalueindex(1));
			lua_pushvalue(L, 1);
			lua_call(L, 1, 1);
			iso_mark(L, -1);
			return 1;
		}
	}
	lua_settop(L, 1);
	return iso_load(L);
}

/* Replace base[name] with fn, the original as its upvalue when up is set. */
static void
iso_wrap(lua_State *L, int base, const char *name, lua_CFunction fn, int up)
{
	if (up)
		lua_getfield(L, base, name);
	lua_pushcclosure(L, fn, up);
	lua_setfield(L, base, name);
}

/* A new table with __index set to the value on top, kept; its ref. */
static int
iso_meta(lua_State *L, int kept, int map)
{
	lua_createtable(L, 0, 1);
	lua_insert(L, -2);
	lua_setfield(L, -2, "__index");
	iso_keep(L, lua_gettop(L), kept, map, 0);
	return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* The chain a connection's globals fall through, each table kept. */
static void
iso_fronts(lua_State *L, int kept, int map)
{
	lua_pushboolean(L, 0);
	iso_env = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushcfunction(L, iso_index);
	iso_frontmeta = iso_meta(L, kept, map);

	lua_newtable(L);
	lua_pushvalue(L, -1);
	iso_front = luaL_ref(L, LUA_REGISTRYINDEX);
	iso_syncfront(L);
	iso_ref(L, iso_frontmeta);
	lua_setmetatable(L, -2);
	iso_keep(L, lua_gettop(L), kept, map, 0);
	iso_envmeta = iso_meta(L, kept, map);
}

/*
 * Once the handler's script is ready (its modules of --require loaded):
 * keep the standard globals, every table among them, package's tables,
 * the string metatable and the fronts' metatable as they are now.
 */
void
isolate_init(lua_State *L)
{
	int	 base, kept, map, pkg, top = lua_gettop(L);

	lua_pushvalue(L, LUA_GLOBALSINDEX);
	base = lua_gettop(L);
	lua_pushvalue(L, base);
	iso_base = luaL_ref(L, LUA_REGISTRYINDEX);
	iso_wrap(L, base, "require", iso_require, 1);
	iso_wrap(L, base, "getfenv", iso_getfenv, 0);
	iso_wrap(L, base, "setfenv", iso_setfenv, 0);
	iso_wrap(L, base, "getmetatable", iso_getmetatable, 0);

	lua_newtable(L);
	kept = lua_gettop(L);
	lua_newtable(L);
	map = lua_gettop(L);
	iso_keep(L, base, kept, map, 1);
	iso_keepfield(L, base, "package", kept, map, 1);
	iso_keepfield(L, base, "debug", kept, map, 1);
	lua_getfield(L, base, "package");
	if (lua_istable(L, -1)) {
		pkg = lua_gettop(L);
		iso_keepfield(L, pkg, "loaded", kept, map, 1);
		iso_keepfield(L, pkg, "preload", kept, map, 0);
		iso_keepfield(L, pkg, "loaders", kept, map, 0);
	}
	lua_pop(L, 1);
	lua_pushnil(L);
	while (lua_next(L, base) != 0) {
		if (lua_istable(L, -1)) {
			iso_keep(L, lua_gettop(L), kept, map, 0);
			iso_keepmeta(L, lua_gettop(L), kept, map);
		}
		lua_pop(L, 1);
	}
	/* module() writes package.loaded. */
	lua_getfield(L, base, "module");
	if (lua_isfunction(L, -1)) {
		lua_pushinteger(L, ISO_ALL);
		lua_rawset(L, map);
	} else
		lua_pop(L, 1);

	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		iso_keep(L, lua_gettop(L), kept, map, 0);
		lua_pushvalue(L, -1);
		iso_strmeta = luaL_ref(L, LUA_REGISTRYINDEX);
	}
	lua_settop(L, map);
	iso_fronts(L, kept, map);

	lua_newtable(L);
	iso_fenvs = luaL_ref(L, LUA_REGISTRYINDEX);
	/* Made once: a closure a connection would be an allocation. */
	lua_pushcfunction(L, iso_leave);
	iso_leavefn = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, map);
	iso_map = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_pushvalue(L, kept);
	iso_kept = luaL_ref(L, LUA_REGISTRYINDEX);
	if ((iso_dirty = calloc(iso_n, 1)) == NULL)
		fatal("isolate_init");
	lua_settop(L, top);
}

/*
 * Push a fresh globals table for a connection, and make it the thread's
 * globals until isolate_leave().  It has room for the library tables the
 * connection names (iso_index).
 */
void
isolate_enter(lua_State *L)
{
	lua_createtable(L, 0, ISO_ENVSLOTS);
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "_G");
	iso_ref(L, iso_envmeta);
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_rawseti(L, LUA_REGISTRYINDEX, iso_env);
	lua_pushvalue(L, -1);
	lua_replace(L, LUA_GLOBALSINDEX);
}

/* Functions whose environment the connection set get their own back. */
static void
iso_fenvsback(lua_State *L)
{
	int	 fenvs;

	iso_ref(L, iso_fenvs);
	fenvs = lua_gettop(L);
	lua_pushnil(L);
	if (lua_next(L, fenvs) == 0) {
		lua_pop(L, 1);
		return;
	}
	do {
		(void)lua_setfenv(L, -2);
	} while (lua_next(L, fenvs) != 0);
	lua_pop(L, 1);
	lua_newtable(L);
	lua_rawseti(L, LUA_REGISTRYINDEX, iso_fenvs);
}

/*
 * Whether the table at idx differs from its copy (at copy, of count
 * keys): the walk iso_restore() makes, reading only.
 */
static int
iso_differs(lua_State *L, int idx, int copy, int count)
{
	int	 seen = 0, same;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pushvalue(L, -2);
		lua_rawget(L, copy);
		same = lua_rawequal(L, -1, -2);
		lua_pop(L, 2);
		if (!same) {
			lua_pop(L, 1);
			return 1;
		}
		seen++;
	}
	return seen != count;
}

/*
 * Whether the connection changed what it reached: a walk that only reads,
 * so it needs no protection, and a connection that changed nothing (the
 * most) costs no protected call.
 */
static int
iso_changed(lua_State *L)
{
	int	 e, kept, top = lua_gettop(L), changed = 0;

	iso_ref(L, iso_fenvs);
	lua_pushnil(L);
	if (lua_next(L, -2) != 0) {
		lua_settop(L, top);
		return 1;
	}
	iso_ref(L, iso_kept);
	kept = lua_gettop(L);
	for (e = 0; e < iso_n && !changed; e++) {
		if (!iso_dirty[e])
			continue;
		lua_rawgeti(L, kept, 3 * e + 1);
		lua_rawgeti(L, kept, 3 * e + 2);
		changed = iso_differs(L, kept + 1, kept + 2, iso_count[e]);
		lua_rawgeti(L, kept, 3 * e + 3);
		if (!lua_getmetatable(L, kept + 1))
			lua_pushboolean(L, 0);
		changed = changed || !lua_rawequal(L, -1, -2);
		lua_settop(L, kept);
	}
	lua_settop(L, top);
	return changed;
}

static int
iso_leave(lua_State *L)
{
	int	 e, kept;

	iso_ref(L, iso_kept);
	kept = lua_gettop(L);
	for (e = 0; e < iso_n; e++) {
		if (!iso_all && !iso_dirty[e])
			continue;
		lua_rawgeti(L, kept, 3 * e + 1);
		lua_rawgeti(L, kept, 3 * e + 2);
		iso_restore(L, kept + 1, kept + 2, iso_count[e]);
		lua_rawgeti(L, kept, 3 * e + 3);
		if (!lua_istable(L, -1)) {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
		lua_setmetatable(L, kept + 1);
		lua_pop(L, 2);
	}
	/* debug.setmetatable("", t) replaces the strings' metatable. */
	if (iso_all) {
		lua_pushliteral(L, "");
		iso_ref(L, iso_strmeta);
		lua_setmetatable(L, -2);
		lua_pop(L, 1);
	}
	iso_fenvsback(L);
	return 0;
}

/*
 * The connection ended: the standard globals and the kept tables again.
 * A connection that ran out of memory (--max-memory) left its garbage,
 * which may leave none for the walk: collect it, with the connection's
 * globals no longer held, and walk again (the walk may be repeated).
 */
void
isolate_leave(lua_State *L)
{
	iso_ref(L, iso_base);
	lua_replace(L, LUA_GLOBALSINDEX);
	lua_pushboolean(L, 0);
	lua_rawseti(L, LUA_REGISTRYINDEX, iso_env);
	if (!iso_touched)
		return;
	if (!iso_all && !iso_changed(L)) {
		memset(iso_dirty, 0, iso_n);
		iso_touched = 0;
		return;
	}
	iso_ref(L, iso_leavefn);
	if (lua_pcall(L, 0, 0, 0) != 0) {
		lua_pop(L, 1);
		lua_gc(L, LUA_GCCOLLECT, 0);
		iso_ref(L, iso_leavefn);
		if (lua_pcall(L, 0, 0, 0) != 0)
			fatalx("isolation: %s", lua_tostring(L, -1));
	}
	memset(iso_dirty, 0, iso_n);
	iso_all = iso_touched = 0;
}
