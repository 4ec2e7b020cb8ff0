/*
 * The functions a connection calls in place of Lua's getfenv, setfenv and
 * getmetatable, and the function its globals' misses end in: each notes
 * the kept tables (lua/isolate.c) the connection reached through it, and
 * setfenv what it must put back.
 */
#include "isolateint.h"

/*
 * A miss in the front: the standard global.  A table is remembered in the
 * connection's globals, so that naming it again costs no call; as in
 * plain Lua, the connection may set that global to something else.
 */
int
iso_index(lua_State *L)
{
	lua_settop(L, 2);
	iso_ref(L, iso_base);
	lua_pushvalue(L, 2);
	lua_rawget(L, -2);
	iso_mark(L, -1);
	if (!lua_istable(L, -1))
		return 1;
	iso_ref(L, iso_env);
	if (lua_istable(L, -1)) {
		lua_pushvalue(L, 2);
		lua_pushvalue(L, -3);
		lua_rawset(L, -3);
	}
	lua_pop(L, 1);
	return 1;
}

/*
 * The function getfenv and setfenv name at 1: pushed, or nil for level 0
 * (the thread).  Levels count from the caller, as for Lua's own.
 */
static void
iso_getfunc(lua_State *L, int optional)
{
	lua_Debug	 ar;
	int		 level;

	if (lua_isfunction(L, 1)) {
		lua_pushvalue(L, 1);
		return;
	}
	level = optional ? luaL_optint(L, 1, 1) : luaL_checkint(L, 1);
	luaL_argcheck(L, level >= 0, 1, "level must be non-negative");
	if (level == 0) {
		lua_pushnil(L);
		return;
	}
	if (lua_getstack(L, level, &ar) == 0)
		luaL_argerror(L, 1, "invalid level");
	lua_getinfo(L, "f", &ar);
	if (lua_isnil(L, -1))
		luaL_error(L, "no function environment for tail call at "
		    "level %d", level);
}

/* getfenv: a module's function leads to the standard globals. */
int
iso_getfenv(lua_State *L)
{
	iso_getfunc(L, 1);
	if (lua_isnil(L, -1) || lua_iscfunction(L, -1)) {
		lua_pushvalue(L, LUA_GLOBALSINDEX);
		return 1;
	}
	lua_getfenv(L, -1);
	iso_mark(L, -1);
	return 1;
}

/* setfenv: a function's environment is put back when the connection ends. */
int
iso_setfenv(lua_State *L)
{
	luaL_checktype(L, 2, LUA_TTABLE);
	iso_getfunc(L, 0);
	if (lua_isnil(L, -1)) {
		lua_pushvalue(L, 2);
		lua_replace(L, LUA_GLOBALSINDEX);
		return 0;
	}
	if (lua_iscfunction(L, -1))
		return luaL_error(L, LUA_QL("setfenv") " cannot change "
		    "environment of given object");
	iso_touched = 1;
	iso_ref(L, iso_fenvs);
	lua_pushvalue(L, -2);
	lua_rawget(L, -2);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -2);
		lua_getfenv(L, -1);
		lua_rawset(L, -3);
	} else
		lua_pop(L, 1);
	lua_pop(L, 1);
	lua_pushvalue(L, 2);
	if (lua_setfenv(L, -2) == 0)
		return luaL_error(L, LUA_QL("setfenv") " cannot change "
		    "environment of given object");
	return 1;
}

/* getmetatable: the strings' leads to string, a module's to the globals. */
int
iso_getmetatable(lua_State *L)
{
	luaL_checkany(L, 1);
	if (!lua_getmetatable(L, 1)) {
		lua_pushnil(L);
		return 1;
	}
	iso_mark(L, -1);
	lua_pushliteral(L, "__index");
	lua_rawget(L, -2);
	iso_mark(L, -1);
	lua_pop(L, 1);
	lua_pushliteral(L, "__metatable");
	lua_rawget(L, -2);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		return 1;
	}
	iso_mark(L, -1);
	return 1;
}
