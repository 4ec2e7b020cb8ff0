/*
 * string.epoch(s, format): strptime(3) to a UNIX timestamp.  The time is
 * UTC unless the format parses a zone with %z; the whole of s must match.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "slualib.h"

static int
epoch_parse(lua_State *L)
{
	struct tm	 tm;
	const char	*s, *fmt, *end;
	size_t		 slen, flen;
	long		 gmtoff;
	time_t		 t;

	s = luaL_checklstring(L, 1, &slen);
	fmt = luaL_checklstring(L, 2, &flen);
	luaL_argcheck(L, strlen(fmt) == flen, 2, "format contains a NUL byte");

	/* Fields the format leaves out default to 1970-01-01 00:00:00. */
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = 70;
	tm.tm_mday = 1;
	end = strptime(s, fmt, &tm);
	if (end == NULL || end != s + slen) {
		lua_pushnil(L);
		return 1;
	}
	/* %z (and %s) set tm_gmtoff; timegm clears it, so keep it first. */
	gmtoff = tm.tm_gmtoff;
	errno = 0;
	if ((t = timegm(&tm)) == (time_t)-1 && errno != 0) {
		lua_pushnil(L);
		return 1;
	}
	lua_pushnumber(L, (lua_Number)t - gmtoff);
	return 1;
}

int
luaopen_slua_epoch(lua_State *L)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushcfunction(L, epoch_parse);
	lua_setfield(L, -2, "epoch");
	lua_pop(L, 1);
	return 0;
}
