/*
 * The config file, slua.conf(5): a Lua chunk run in an empty environment,
 * where each global it sets is a setting named like a long option, with
 * '_' for '-':
 *
 *	port = 9000
 *	listen = { "127.0.0.1", "::1" }
 *	max_job_size = "16m"
 *	handler = "/etc/slua/handler.lua"
 *
 * Assignments are checked as they run, so an unknown name or a bad value
 * is reported with the file and line that set it.  The chunk runs in a
 * bare Lua state: it can compute values, but not reach the system.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "config.h"
#include "log.h"

/* Strings a config file gave us; they live as long as the process. */
static char	**conf_strings;
static size_t	  conf_nstrings;

static const char *
conf_keep(lua_State *L, const char *s)
{
	char	**n;
	char	 *copy;

	n = reallocarray(conf_strings, conf_nstrings + 1, sizeof(*n));
	if (n == NULL)
		luaL_error(L, "not enough memory");
	conf_strings = n;
	if ((copy = strdup(s)) == NULL)
		luaL_error(L, "not enough memory");
	conf_strings[conf_nstrings++] = copy;
	return copy;
}

void
config_file_free(void)
{
	size_t	 i;

	for (i = 0; i < conf_nstrings; i++)
		free(conf_strings[i]);
	free(conf_strings);
	conf_strings = NULL;
	conf_nstrings = 0;
}

static const char *
conf_value(lua_State *L, int idx, const char *name)
{
	switch (lua_type(L, idx)) {
	case LUA_TNUMBER:
	case LUA_TSTRING:
		return conf_keep(L, lua_tostring(L, idx));
	case LUA_TBOOLEAN:
		return lua_toboolean(L, idx) ? "true" : "false";
	default:
		luaL_where(L, 1);
		lua_pushfstring(L, "%s: a %s is no value for this setting",
		    name, luaL_typename(L, idx));
		lua_concat(L, 2);
		lua_error(L);
		return NULL;
	}
}

static void
conf_unknown(lua_State *L, const char *name)
{
	luaL_where(L, 1);
	lua_pushfstring(L, "unknown setting '%s'", name);
	lua_concat(L, 2);
	lua_error(L);
}

/* The settings a table may give more than one value. */
static int
conf_islist(const char *name)
{
	return strcmp(name, "listen") == 0 ||
	    strcmp(name, "tls_cert") == 0 || strcmp(name, "tls_key") == 0 ||
	    strcmp(name, "ssl_cert") == 0 || strcmp(name, "ssl_key") == 0;
}

/* __newindex of the file's environment: one setting. */
static int
conf_set(lua_State *L)
{
	struct config	*cf = lua_touserdata(L, lua_upvalueindex(1));
	const char	*name = luaL_checkstring(L, 2);
	int		 i, n;

	if (conf_islist(name) && lua_istable(L, 3)) {
		n = (int)lua_objlen(L, 3);
		for (i = 1; i <= n; i++) {
			lua_rawgeti(L, 3, i);
			(void)config_setting(cf, L, name,
			    conf_value(L, -1, name));
			lua_pop(L, 1);
		}
		return 0;
	}
	if (config_setting(cf, L, name, conf_value(L, 3, name)) == -1)
		conf_unknown(L, name);
	return 0;
}

static int
conf_run(lua_State *L)
{
	const char	*path = lua_touserdata(L, 1);
	struct config	*cf = lua_touserdata(L, 2);

	if (luaL_loadfile(L, path) != 0)
		return lua_error(L);
	lua_newtable(L);			/* the environment */
	lua_newtable(L);			/* its metatable */
	lua_pushlightuserdata(L, cf);
	lua_pushcclosure(L, conf_set, 1);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_setfenv(L, -2);
	lua_call(L, 0, 0);
	return 0;
}

/*
 * Read path and fill what cf left unset.  When the file is the default
 * one (must == 0), its absence is no error.  Errors are logged.
 */
int
config_file(struct config *cf, const char *path, int must)
{
	struct config	 file;
	lua_State	*L;
	int		 status;

	if (!must && access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	config_init(&file);
	if ((L = luaL_newstate()) == NULL)
		fatalx("not enough memory");
	lua_pushcfunction(L, conf_run);
	lua_pushlightuserdata(L, (void *)path);
	lua_pushlightuserdata(L, &file);
	errno = 0;
	status = lua_pcall(L, 2, 0, 0);
	if (status != 0) {
		const char *msg = lua_tostring(L, -1);

		/* luaL_loadfile says "cannot open x"; say it as we do. */
		if (msg != NULL && strncmp(msg, "cannot open ", 12) == 0)
			log_warnx("%s: %s", path, strerror(errno ? errno :
			    ENOENT));
		else
			log_warnx("%s", msg ? msg : "error in config file");
		lua_close(L);
		return -1;
	}
	lua_close(L);
	config_merge(cf, &file);
	return 0;
}
