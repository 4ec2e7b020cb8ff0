/*
 * Every Lua state slua creates is made here, so normal mode, handlers and
 * workers see the same library.  To add a library, write lua/NAME.c with a
 * luaopen_slua_NAME() and list it in sluaLibs.
 */
#include <stdlib.h>

#include "slualib.h"
#include "log.h"
#include "work.h"
#include "client.h"

struct slua_lib {
	const char	*name;
	lua_CFunction	 open;
};

static const struct slua_lib sluaLibs[] = {
	{ "print",	luaopen_slua_print },
	{ "json",	luaopen_slua_json },
	{ "pcre",	luaopen_slua_pcre },
	{ "digest",	luaopen_slua_digest },
	{ "iconv",	luaopen_slua_iconv },
	{ "epoch",	luaopen_slua_epoch },
	{ "posix",	luaopen_slua_posix },
	{ "work",	luaopen_slua_work },
	{ "client",	luaopen_slua_client },
	{ NULL, NULL }
};

/*
 * --max-memory: a process runs one Lua state at a time, so one count per
 * process is the state's.  Past the limit the allocator fails, and Lua
 * raises "not enough memory" in the script, which the process survives.
 */
static size_t	 mem_limit;
static size_t	 mem_used;

void
slua_setmemlimit(size_t limit)
{
	mem_limit = limit;
}

static void *
slua_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	void	*p;

	(void)ud;
	if (nsize == 0) {
		free(ptr);
		mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && mem_used - osize + nsize > mem_limit)
		return NULL;
	if ((p = realloc(ptr, nsize)) == NULL)
		return nsize < osize ? ptr : NULL;
	mem_used = mem_used - osize + nsize;
	return p;
}

lua_State *
slua_newstate(enum slua_role role)
{
	lua_State	*L;

#ifdef SLUA_LUAJIT
	/* LuaJIT on 64-bit hosts takes no allocator of ours. */
	if (mem_limit > 0) {
		log_warnx("max-memory is not available with LuaJIT");
		mem_limit = 0;
	}
#endif
	if (mem_limit > 0) {
		mem_used = 0;
		L = lua_newstate(slua_alloc, NULL);
	} else
		L = luaL_newstate();
	if (L == NULL)
		fatalx("cannot create a Lua state: not enough memory");
	slua_openlibs(L, role);
	return L;
}

void
slua_openlibs(lua_State *L, enum slua_role role)
{
	const struct slua_lib	*lib;

	luaL_openlibs(L);
	for (lib = sluaLibs; lib->open != NULL; lib++) {
		lua_pushcfunction(L, lib->open);
		lua_pushstring(L, lib->name);
		lua_pushinteger(L, role);
		lua_call(L, 2, 0);
	}
}
