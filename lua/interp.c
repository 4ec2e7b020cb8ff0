/*
 * Normal mode: slua as a stand-alone Lua interpreter, after lua(1).
 * LUA_INIT runs first, then -e and -l in command-line order, then the
 * script with its arguments, then the prompt when asked for (or when there
 * is nothing else to run and standard input is a terminal).  All of it runs
 * inside one protected call, as in lua(1), so an error outside a chunk
 * (in a _PROMPT metamethod, say) is reported, not a panic, and tracebacks
 * end as lua5.1's do.
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
static int		 interp_prompting;

struct interp {
	struct config	*in_cf;
	const char	*in_progname;
	int		 in_status;	/* non-zero once a chunk failed */
};

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

/*
 * An error as lua(1) reports it: "slua: message" on standard error, or
 * the bare message at the prompt.
 */
static void
interp_report(lua_State *L, int status)
{
	const char	*msg;

	if (status == 0)
		return;
	if ((msg = lua_tostring(L, -1)) == NULL)
		msg = "(error object is not a string)";
	(void)fflush(stdout);
	(void)fprintf(stderr, "%s%s\n", interp_prompting ? "" : "slua: ", msg);
	(void)fflush(stderr);
	lua_pop(L, 1);
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
	interp_report(L, status);
	return status;
}

/* LUA_INIT is code, or "@file" to run, before anything else. */
static int
interp_init(lua_State *L)
{
	const char	*init;
	int		 status;

	if ((init = getenv("LUA_INIT")) == NULL)
		return 0;
	if (init[0] == '@')
		status = luaL_loadfile(L, init + 1);
	else
		status = luaL_loadbuffer(L, init, strlen(init), "=LUA_INIT");
	if (status == 0)
		status = interp_call(L, 0, 0);
	interp_report(L, status);
	return status;
}

static int
interp_require(lua_State *L, const char *name)
{
	int	 status;

	lua_getglobal(L, "require");
	lua_pushstring(L, name);
	status = interp_call(L, 1, 0);
	interp_report(L, status);
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
	interp_report(L, status);
	return status;
}

/* The prompt is the global _PROMPT or _PROMPT2 when set, as in lua(1). */
static void
interp_showprompt(lua_State *L, int firstline)
{
	const char	*p;

	lua_getfield(L, LUA_GLOBALSINDEX, firstline ? "_PROMPT" : "_PROMPT2");
	if ((p = lua_tostring(L, -1)) == NULL)
		p = firstline ? PROMPT : PROMPT2;
	(void)fputs(p, stdout);
	(void)fflush(stdout);
	lua_pop(L, 1);
}

static int
interp_readline(lua_State *L, int firstline)
{
	char	 buf[MAXINPUT];
	size_t	 len;

	interp_showprompt(L, firstline);
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
	interp_prompting = 1;
	while ((status = interp_loadline(L)) != -1) {
		if (status == 0)
			status = interp_call(L, 0, LUA_MULTRET);
		interp_report(L, status);
		if (status == 0 && lua_gettop(L) > 0) {
			lua_getglobal(L, "print");
			lua_insert(L, 1);
			if (lua_pcall(L, lua_gettop(L) - 1, 0, 0) != 0)
				(void)fprintf(stderr, "error calling "
				    LUA_QL("print") " (%s)\n",
				    lua_tostring(L, -1));
		}
	}
	interp_prompting = 0;
	lua_settop(L, 0);
	(void)fputs("\n", stdout);
	(void)fflush(stdout);
}

/*
 * Like lua(1), arg exists only for a script named on the command line:
 * -e code and -l modules run before it is set.
 */
static int
interp_pmain(lua_State *L)
{
	struct interp	*in = lua_touserdata(L, 1);
	struct config	*cf = in->in_cf;
	int		 i, status;

	lua_settop(L, 0);
	status = interp_init(L);
	for (i = 0; i < cf->cf_npre && status == 0; i++) {
		if (cf->cf_pre[i].pre_kind == 'e')
			status = interp_string(L, cf->cf_pre[i].pre_arg);
		else
			status = interp_require(L, cf->cf_pre[i].pre_arg);
	}
	if (status == 0 && cf->cf_handler != NULL) {
		interp_args(L, in->in_progname, cf->cf_handler, cf->cf_args,
		    cf->cf_nargs);
		status = interp_script(L, cf->cf_handler, cf->cf_args,
		    cf->cf_nargs);
	} else if (status == 0 && cf->cf_npre == 0 && !cf->cf_interactive) {
		if (isatty(STDIN_FILENO))
			cf->cf_interactive = 1;
		else
			status = interp_script(L, "-", cf->cf_args,
			    cf->cf_nargs);
	}
	if (status == 0 && cf->cf_interactive)
		interp_prompt(L);
	in->in_status = status;
	return 0;
}

int
interp_main(struct config *cf, const char *progname)
{
	struct interp	 in = { cf, progname, 0 };
	lua_State	*L;
	int		 status;

	L = interp_L = slua_newstate(ROLE_NORMAL);
	status = lua_cpcall(L, interp_pmain, &in);
	interp_report(L, status);
	lua_close(L);
	return status == 0 && in.in_status == 0 ? 0 : 1;
}
