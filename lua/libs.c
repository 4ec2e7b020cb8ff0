/*
 * Every Lua state slua creates is made here, so normal mode, handlers and
 * workers see the same library.  To add a library, write lua/NAME.c with a
 * luaopen_slua_NAME() and list it in sluaLibs.
 */
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

lua_State *
slua_newstate(enum slua_role role)
{
	lua_State	*L;

	if ((L = luaL_newstate()) == NULL)
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
