/*
 * Scripts: a command-line argument that names a file is read from it,
 * anything else is Lua code.  The text is kept in memory so every process
 * compiles the same bytes, and a reload re-reads them on purpose.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "slualib.h"
#include "log.h"

static int
readfd(int fd, char **bufp, size_t *lenp)
{
	char	*buf = NULL, *nbuf;
	size_t	 len = 0, cap = 0;
	ssize_t	 n;

	for (;;) {
		if (len == cap) {
			cap = cap ? cap * 2 : 8192;
			if ((nbuf = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nbuf;
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		len += n;
	}
	*bufp = buf;
	*lenp = len;
	return 0;
 fail:
	free(buf);
	return -1;
}

static int
endswith(const char *s, const char *suffix)
{
	size_t	 n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/*
 * Like lua(1), a first line starting with '#' is a "#!" line.  Text keeps
 * the line, blanked, so that line numbers stay right; a precompiled chunk
 * (luac output) after it must start the buffer, or Lua would parse it as
 * text.
 */
static void
script_skipline(struct script *sc)
{
	size_t	 i;

	if (sc->sc_len == 0 || sc->sc_buf[0] != '#')
		return;
	for (i = 0; i < sc->sc_len && sc->sc_buf[i] != '\n'; i++)
		;
	if (i + 1 < sc->sc_len && sc->sc_buf[i + 1] == LUA_SIGNATURE[0]) {
		sc->sc_len -= i + 1;
		memmove(sc->sc_buf, sc->sc_buf + i + 1, sc->sc_len);
		return;
	}
	memset(sc->sc_buf, ' ', i);
}

/*
 * Fill sc from arg.  On failure, returns -1 with a message such as
 * "x.lua: No such file or directory" in err.
 */
int
script_read(struct script *sc, const char *arg, char *err, size_t errlen)
{
	struct stat	 st;
	int		 fd = -1;

	memset(sc, 0, sizeof(*sc));
	if (strcmp(arg, "-") == 0) {
		if (readfd(STDIN_FILENO, &sc->sc_buf, &sc->sc_len) == -1)
			goto syserr;
		sc->sc_name = strdup("stdin");
		sc->sc_chunkname = strdup("=stdin");
	} else if (stat(arg, &st) == 0 || endswith(arg, ".lua")) {
		if ((fd = open(arg, O_RDONLY | O_CLOEXEC)) == -1)
			goto syserr;
		if (fstat(fd, &st) == -1)
			goto syserr;
		if (S_ISDIR(st.st_mode)) {
			errno = EISDIR;
			goto syserr;
		}
		if (readfd(fd, &sc->sc_buf, &sc->sc_len) == -1)
			goto syserr;
		(void)close(fd);
		fd = -1;
		sc->sc_name = strdup(arg);
		if (asprintf(&sc->sc_chunkname, "@%s", arg) == -1)
			sc->sc_chunkname = NULL;
	} else {
		sc->sc_len = strlen(arg);
		sc->sc_buf = malloc(sc->sc_len + 1);
		if (sc->sc_buf != NULL)
			memcpy(sc->sc_buf, arg, sc->sc_len + 1);
		sc->sc_name = strdup("(command line)");
		sc->sc_chunkname = strdup("=(command line)");
	}
	if (sc->sc_name == NULL || sc->sc_chunkname == NULL ||
	    (sc->sc_buf == NULL && sc->sc_len > 0)) {
		script_free(sc);
		(void)snprintf(err, errlen, "%s", strerror(ENOMEM));
		return -1;
	}
	script_skipline(sc);
	return 0;
 syserr:
	(void)snprintf(err, errlen, "%s: %s", strcmp(arg, "-") == 0 ?
	    "stdin" : arg, strerror(errno));
	if (fd != -1)
		(void)close(fd);
	script_free(sc);
	return -1;
}

/* Compile sc; pushes the chunk, or the error message. */
int
script_load(lua_State *L, const struct script *sc)
{
	return luaL_loadbuffer(L, sc->sc_buf ? sc->sc_buf : "", sc->sc_len,
	    sc->sc_chunkname);
}

/*
 * Require the modules of --require (and of -l, where it names one) in a
 * handler's or worker's state, before its script: 0, or non-zero with the
 * error on the stack.
 */
int
script_require(lua_State *L, const struct config *cf)
{
	int	 i, status;

	for (i = 0; i < cf->cf_npre; i++) {
		if (cf->cf_pre[i].pre_kind != 'l' &&
		    cf->cf_pre[i].pre_kind != 'r')
			continue;
		lua_getglobal(L, "require");
		lua_pushstring(L, cf->cf_pre[i].pre_arg);
		if ((status = lua_pcall(L, 1, 0, 0)) != 0)
			return status;
	}
	return 0;
}

void
script_free(struct script *sc)
{
	free(sc->sc_name);
	free(sc->sc_chunkname);
	free(sc->sc_buf);
	memset(sc, 0, sizeof(*sc));
}

/* Message handler for slua_pcall: append a traceback, as lua(1) does. */
int
slua_traceback(lua_State *L)
{
	if (!lua_isstring(L, 1) && !lua_isnil(L, 1)) {
		/* A non-string error keeps its value; there is no trace. */
		if (luaL_callmeta(L, 1, "__tostring"))
			return 1;
		lua_pushfstring(L, "(error object is a %s value)",
		    luaL_typename(L, 1));
		return 1;
	}
	if (lua_isnil(L, 1))
		lua_pushliteral(L, "nil");
	else
		lua_pushvalue(L, 1);
	lua_getfield(L, LUA_GLOBALSINDEX, "debug");
	if (!lua_istable(L, -1)) {
		lua_pop(L, 1);
		return 1;
	}
	lua_getfield(L, -1, "traceback");
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 2);
		return 1;
	}
	lua_pushvalue(L, -3);
	lua_pushinteger(L, 2);
	lua_call(L, 2, 1);
	return 1;
}

/*
 * lua_pcall with slua_traceback below the function.  The function is made
 * once and kept in the registry: a handler calls this for every request,
 * and a C function pushed is a new closure each time, garbage after.
 */
int
slua_pcall(lua_State *L, int nargs, int nresults)
{
	static const char	 tbkey;
	int			 base = lua_gettop(L) - nargs;
	int			 status;

	lua_pushlightuserdata(L, (void *)&tbkey);
	lua_rawget(L, LUA_REGISTRYINDEX);
	if (!lua_isfunction(L, -1)) {
		lua_pop(L, 1);
		lua_pushlightuserdata(L, (void *)&tbkey);
		lua_pushcfunction(L, slua_traceback);
		lua_rawset(L, LUA_REGISTRYINDEX);
		lua_pushlightuserdata(L, (void *)&tbkey);
		lua_rawget(L, LUA_REGISTRYINDEX);
	}
	lua_insert(L, base);
	status = lua_pcall(L, nargs, nresults, base);
	lua_remove(L, base);
	return status;
}

/*
 * Report the error on top of the stack, whole, and pop it: to the log
 * when it goes to syslog (under inetd), and as "slua: message" on stderr
 * unless that is the client.
 */
void
slua_report(lua_State *L, int status)
{
	const char	*msg;

	if (status == 0)
		return;
	msg = lua_tostring(L, -1);
	if (msg == NULL)
		msg = "(error object is not a string)";
	(void)fflush(stdout);
	if (log_lua(msg)) {
		(void)fprintf(stderr, "slua: %s\n", msg);
		(void)fflush(stderr);
	}
	lua_pop(L, 1);
}

/* Read a script argument and check its syntax; logs why not. */
int
script_open(struct script *sc, const char *arg)
{
	char		 err[1024];
	lua_State	*L;
	int		 status;

	if (script_read(sc, arg, err, sizeof(err)) == -1) {
		log_warnx("%s", err);
		return -1;
	}
	if ((L = luaL_newstate()) == NULL)
		fatalx("not enough memory");
	if ((status = script_load(L, sc)) != 0) {
		log_warnx("%s", lua_tostring(L, -1));
		script_free(sc);
	}
	lua_close(L);
	return status == 0 ? 0 : -1;
}
