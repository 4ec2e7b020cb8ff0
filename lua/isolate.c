/*
 * Isolation of a tcp handler's connections.
 *
 * Each connection gets a fresh globals table whose misses fall through to
 * the standard globals, and that table is also the thread's globals while
 * the connection runs, so what loadstring, dofile and getfenv(0) see is
 * the connection's, not the process's.  The standard globals stay
 * reachable (getmetatable(_G).__index, getfenv(print)), and the library
 * tables are shared by every connection; rather than copy them for each
 * connection, the handler keeps a copy of each, taken once its script is
 * ready, and when a connection ends puts back every key of those tables
 * as it was: one walk of a few hundred keys.
 *
 * Modules stay loaded: require runs with the standard globals as the
 * thread's, and what loading a module added to a kept table (its
 * package.loaded entry, the global module() sets) joins the copy.
 */
#include "isolate.h"
#include "log.h"

#define ISO_BASE	"slua.isolate.base"	/* the standard globals */
#define ISO_KEPT	"slua.isolate.kept"	/* live, copy, metatable, ... */
#define ISO_STRMETA	"slua.isolate.strmeta"	/* the string metatable */

/* A shallow copy of the table at idx, pushed. */
static void
iso_copy(lua_State *L, int idx)
{
	lua_newtable(L);
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pushvalue(L, -2);
		lua_insert(L, -2);
		lua_rawset(L, -4);
	}
}

/* Keep the table at idx (once) in the kept list at kept, seen at seen. */
static void
iso_keep(lua_State *L, int idx, int kept, int seen)
{
	int	 n;

	lua_pushvalue(L, idx);
	lua_rawget(L, seen);
	if (!lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return;
	}
	lua_pop(L, 1);
	lua_pushvalue(L, idx);
	lua_pushboolean(L, 1);
	lua_rawset(L, seen);

	n = lua_objlen(L, kept);
	lua_pushvalue(L, idx);
	lua_rawseti(L, kept, n + 1);
	iso_copy(L, idx);
	lua_rawseti(L, kept, n + 2);
	if (!lua_getmetatable(L, idx))
		lua_pushboolean(L, 0);
	lua_rawseti(L, kept, n + 3);
}

/* Keep t[name] when it is a table; t is at idx. */
static void
iso_keepfield(lua_State *L, int idx, const char *name, int kept, int seen)
{
	lua_getfield(L, idx, name);
	if (lua_istable(L, -1))
		iso_keep(L, lua_gettop(L), kept, seen);
	lua_pop(L, 1);
}

/* Put the live table at idx back as its copy at copy says. */
static void
iso_restore(lua_State *L, int idx, int copy)
{
	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_rawget(L, copy);
		if (lua_isnil(L, -1)) {
			/* Clearing a field during the walk is allowed. */
			lua_pushvalue(L, -2);
			lua_insert(L, -2);
			lua_rawset(L, idx);
		} else
			lua_pop(L, 1);
	}
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
	int	 i, n = lua_objlen(L, kept);

	for (i = 1; i <= n; i += 3) {
		lua_rawgeti(L, kept, i);
		lua_rawgeti(L, kept, i + 1);
		lua_rawgeti(L, pre, i);
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
		}
		lua_pop(L, 3);
	}
}

/*
 * require as the connection sees it.  A module already loaded costs a
 * look-up; loading one runs with the standard globals as the thread's,
 * and what it added is kept for the connections to come.
 */
static int
iso_require(lua_State *L)
{
	int	 i, n, kept, pre, status;

	luaL_checkstring(L, 1);
	lua_settop(L, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, "_LOADED");
	if (lua_istable(L, -1)) {
		lua_pushvalue(L, 1);
		lua_rawget(L, -2);
		if (lua_toboolean(L, -1)) {
			/* Loaded, or being loaded: require says which. */
			lua_pushvalue(L, lua_upvalueindex(1));
			lua_pushvalue(L, 1);
			lua_call(L, 1, 1);
			return 1;
		}
		lua_pop(L, 1);
	}
	lua_pop(L, 1);

	lua_getfield(L, LUA_REGISTRYINDEX, ISO_KEPT);
	kept = lua_gettop(L);
	n = lua_objlen(L, kept);
	lua_createtable(L, n, 0);
	pre = lua_gettop(L);
	for (i = 1; i <= n; i += 3) {
		lua_rawgeti(L, kept, i);
		iso_copy(L, lua_gettop(L));
		lua_rawseti(L, pre, i);
		lua_pop(L, 1);
	}

	lua_pushvalue(L, LUA_GLOBALSINDEX);	/* the connection's */
	lua_getfield(L, LUA_REGISTRYINDEX, ISO_BASE);
	lua_replace(L, LUA_GLOBALSINDEX);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	status = lua_pcall(L, 1, 1, 0);
	lua_pushvalue(L, -2);
	lua_replace(L, LUA_GLOBALSINDEX);
	if (status != 0)
		return lua_error(L);
	iso_commit(L, kept, pre);
	return 1;
}

/*
 * Once the handler's script is ready (its modules of --require loaded):
 * keep the standard globals, every table among them, package's tables
 * and the string metatable as they are now.
 */
void
isolate_init(lua_State *L)
{
	int	 base, kept, seen, pkg, top = lua_gettop(L);

	lua_pushvalue(L, LUA_GLOBALSINDEX);
	base = lua_gettop(L);
	lua_pushvalue(L, base);
	lua_setfield(L, LUA_REGISTRYINDEX, ISO_BASE);

	lua_getfield(L, base, "require");
	lua_pushcclosure(L, iso_require, 1);
	lua_setfield(L, base, "require");

	lua_newtable(L);
	kept = lua_gettop(L);
	lua_newtable(L);
	seen = lua_gettop(L);
	iso_keep(L, base, kept, seen);
	lua_pushnil(L);
	while (lua_next(L, base) != 0) {
		if (lua_istable(L, -1))
			iso_keep(L, lua_gettop(L), kept, seen);
		lua_pop(L, 1);
	}
	lua_getfield(L, base, "package");
	if (lua_istable(L, -1)) {
		pkg = lua_gettop(L);
		iso_keepfield(L, pkg, "loaded", kept, seen);
		iso_keepfield(L, pkg, "preload", kept, seen);
		iso_keepfield(L, pkg, "loaders", kept, seen);
	}
	lua_pop(L, 1);
	lua_pushliteral(L, "");
	if (lua_getmetatable(L, -1)) {
		iso_keep(L, lua_gettop(L), kept, seen);
		lua_setfield(L, LUA_REGISTRYINDEX, ISO_STRMETA);
	}
	lua_pop(L, 1);
	lua_pushvalue(L, kept);
	lua_setfield(L, LUA_REGISTRYINDEX, ISO_KEPT);
	lua_settop(L, top);
}

/*
 * Push a fresh globals table for a connection, and make it the thread's
 * globals until isolate_leave().
 */
void
isolate_enter(lua_State *L)
{
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "_G");
	lua_createtable(L, 0, 1);
	lua_getfield(L, LUA_REGISTRYINDEX, ISO_BASE);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_pushvalue(L, -1);
	lua_replace(L, LUA_GLOBALSINDEX);
}

static int
iso_leave(lua_State *L)
{
	int	 i, n, kept;

	lua_getfield(L, LUA_REGISTRYINDEX, ISO_KEPT);
	kept = lua_gettop(L);
	n = lua_objlen(L, kept);
	for (i = 1; i <= n; i += 3) {
		lua_rawgeti(L, kept, i);
		lua_rawgeti(L, kept, i + 1);
		iso_restore(L, kept + 1, kept + 2);
		lua_rawgeti(L, kept, i + 2);
		if (!lua_istable(L, -1)) {
			lua_pop(L, 1);
			lua_pushnil(L);
		}
		lua_setmetatable(L, kept + 1);
		lua_pop(L, 2);
	}
	/* debug.setmetatable("", t) replaces the strings' metatable. */
	lua_pushliteral(L, "");
	lua_getfield(L, LUA_REGISTRYINDEX, ISO_STRMETA);
	lua_setmetatable(L, -2);
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
	lua_getfield(L, LUA_REGISTRYINDEX, ISO_BASE);
	lua_replace(L, LUA_GLOBALSINDEX);
	if (lua_cpcall(L, iso_leave, NULL) == 0)
		return;
	lua_pop(L, 1);
	lua_gc(L, LUA_GCCOLLECT, 0);
	if (lua_cpcall(L, iso_leave, NULL) != 0)
		fatalx("isolation: %s", lua_tostring(L, -1));
}
