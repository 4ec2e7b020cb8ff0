/*
 * Normal mode: slua as a stand-alone Lua interpreter, after lua(1).
 * -e and -l run in command-line order, then the script with its arguments,
 * then the prompt when asked for (or when there is nothing else to run and
 * standard input is a terminal).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "slualib.h"

#define PROMPT		"> "
#define PROMPT2		">> "
#define MAXINPUT	4096

static lua_State	*interp_L;

/* SIGINT during a call: the hook, not the handler, raises the error. */
static void
interp_stop(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_sethook(L, NULL, 0, 0);
	luaL_error(L, "interrupted!");
}

static void
interp_sigint(int sig)
{
	(void)signal(sig, SIG_DFL);
	lua_sethook(interp_L, interp_stop,
	    LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
}

static int
interp_call(lua_State *L, int nargs, int nresults)
{
	int	 status;

	(void)signal(SIGINT, interp_sigint);
	status = slua_pcall(L, nargs, nresults);
	(void)signal(SIGINT, SIG_DFL);
	/* A failed call may leave garbage; collect it as lua(1) does. */
	if (status != 0)
		lua_gc(L, LUA_GCCOLLECT, 0);
	return status;
}

static int
interp_string(lua_State *L, const char *code)
{
	int	 status;

	status = luaL_loadbuffer(L, code, strlen(code), "=(command line)");
	if (status == 0)
		status = interp_call(L, 0, 0);
	slua_report(L, status);
	return status;
}

static int
interp_require(lua_State *L, const char *name)
{
	int	 status;

	lua_getglobal(L, "require");
	lua_pushstring(L, name);
	status = interp_call(L, 1, 0);
	slua_report(L, status);
	return status;
}

/* arg[0] is the script, arg[1..n] its arguments, arg[-1] slua itself. */
static void
interp_args(lua_State *L, const char *progname, const char *scriptname,
    char **args, int nargs)
{
	int	 i;

	lua_createtable(L, nargs, 2);
	lua_pushstring(L, progname);
	lua_rawseti(L, -2, -1);
	if (scriptname != NULL) {
		lua_pushstring(L, scriptname);
		lua_rawseti(L, -2, 0);
	}
	for (i = 0; i < nargs; i++) {
		lua_pushstring(L, args[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setglobal(L, "arg");
}

static int
interp_script(lua_State *L, const char *name, char **args, int nargs)
{
	struct script	 sc;
	char		 err[1024];
	int		 status, i;

	if (script_read(&sc, name, err, sizeof(err)) == -1) {
		(void)fprintf(stderr, "slua: %s\n", err);
		return 1;
	}
	status = script_load(L, &sc);
	script_free(&sc);
	if (status == 0) {
		luaL_checkstack(L, nargs, "too many arguments to script");
		for (i = 0; i < nargs; i++)
			lua_pushstring(L, args[i]);
		status = interp_call(L, nargs, 0);
	}
	slua_report(L, status);
	return status;
}

static int
interp_readline(lua_State *L, int firstline)
{
	char	 buf[MAXINPUT];
	size_t	 len;

	(void)fputs(firstline ? PROMPT : PROMPT2, stdout);
	(void)fflush(stdout);
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return 0;
	len = strlen(buf);
	if (len > 0 && buf[len - 1] == '\n')
		buf[--len] = '\0';
	if (firstline && buf[0] == '=')
		lua_pushfstring(L, "return %s", buf + 1);
	else
		lua_pushlstring(L, buf, len);
	return 1;
}

/* A syntax error at <eof> means the chunk goes on on the next line. */
static int
interp_incomplete(lua_State *L, int status)
{
	size_t		 len;
	const char	*msg;

	if (status != LUA_ERRSYNTAX)
		return 0;
	msg = lua_tolstring(L, -1, &len);
	if (len >= 7 && strstr(msg, "'<eof>'") == msg + len - 7) {
		lua_pop(L, 1);
		return 1;
	}
	return 0;
}

static int
interp_loadline(lua_State *L)
{
	int	 status;

	lua_settop(L, 0);
	if (!interp_readline(L, 1))
		return -1;
	for (;;) {
		status = luaL_loadbuffer(L, lua_tostring(L, 1),
		    lua_strlen(L, 1), "=stdin");
		if (!interp_incomplete(L, status))
			break;
		if (!interp_readline(L, 0))
			return -1;
		lua_pushliteral(L, "\n");
		lua_insert(L, -2);
		lua_concat(L, 3);
	}
	lua_remove(L, 1);
	return status;
}

static void
interp_prompt(lua_State *L)
{
	int	 status;

	if (isatty(STDIN_FILENO)) {
		(void)printf("slua %s (%s)\n", SLUA_VERSION, LUA_NAME);
		(void)fflush(stdout);
	}
	while ((status = interp_loadline(L)) != -1) {
		if (status == 0)
			status = interp_call(L, 0, LUA_MULTRET);
		slua_report(L, status);
		if (status == 0 && lua_gettop(L) > 0) {
			lua_getglobal(L, "print");
			lua_insert(L, 1);
			if (lua_pcall(L, lua_gettop(L) - 1, 0, 0) != 0)
				(void)fprintf(stderr, "slua: error calling "
				    "print (%s)\n", lua_tostring(L, -1));
		}
	}
	lua_settop(L, 0);
	(void)fputs("\n", stdout);
	(void)fflush(stdout);
}

int
interp_main(struct config *cf, const char *progname)
{
	lua_State	*L;
	int		 i, status = 0;

	L = interp_L = slua_newstate(ROLE_NORMAL);
	interp_args(L, progname, cf->cf_handler, cf->cf_args, cf->cf_nargs);
	for (i = 0; i < cf->cf_npre && status == 0; i++) {
		if (cf->cf_pre[i].pre_kind == 'e')
			status = interp_string(L, cf->cf_pre[i].pre_arg);
		else
			status = interp_require(L, cf->cf_pre[i].pre_arg);
	}
	if (status == 0 && cf->cf_handler != NULL)
		status = interp_script(L, cf->cf_handler, cf->cf_args,
		    cf->cf_nargs);
	else if (status == 0 && cf->cf_npre == 0 && !cf->cf_interactive) {
		if (isatty(STDIN_FILENO))
			cf->cf_interactive = 1;
		else
			status = interp_script(L, "-", cf->cf_args,
			    cf->cf_nargs);
	}
	if (status == 0 && cf->cf_interactive)
		interp_prompt(L);
	lua_close(L);
	return status == 0 ? 0 : 1;
}
