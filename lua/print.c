/*
 * print and eprint: Lua's print, except that each call writes its whole
 * line at once, so lines from different processes never interleave.
 * print goes through a writer that the handler can point at its client;
 * eprint goes to standard error, or to syslog once slua is a daemon or
 * runs under inetd.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "slualib.h"

static int	 print_stdout(void *, const char *, size_t);

static slua_writer	 print_writer = print_stdout;
static void		*print_ctx;

void
print_setwriter(slua_writer fn, void *ctx)
{
	if (fn == NULL) {
		fn = print_stdout;
		ctx = NULL;
	}
	print_writer = fn;
	print_ctx = ctx;
}

static int
print_fdwrite(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

	while (len > 0) {
		if ((n = write(fd, buf, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= n;
	}
	return 0;
}

/* io.write is buffered by stdio: flush it first to keep the order. */
static int
print_stdout(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	if (fflush(stdout) == EOF)
		return -1;
	return print_fdwrite(STDOUT_FILENO, buf, len);
}

static int
print_stderr(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	/*
	 * A daemon's standard error is /dev/null, and under inetd most often
	 * the client: eprint goes to syslog then.
	 */
	if (!log_script(buf, len))
		return 0;
	if (fflush(stderr) == EOF)
		return -1;
	return print_fdwrite(STDERR_FILENO, buf, len);
}

/*
 * Format the arguments as lbaselib's print does, through the global
 * tostring so that __tostring (and a replaced tostring) is honoured.
 */
static void
print_line(lua_State *L, const char *name)
{
	luaL_Buffer	 b;
	int		 i, n;

	n = lua_gettop(L);
	lua_getglobal(L, "tostring");
	luaL_buffinit(L, &b);
	for (i = 1; i <= n; i++) {
		if (i > 1)
			luaL_addchar(&b, '\t');
		lua_pushvalue(L, n + 1);
		lua_pushvalue(L, i);
		lua_call(L, 1, 1);
		if (lua_tostring(L, -1) == NULL)
			luaL_error(L, LUA_QL("tostring") " must return a string "
			    "to " LUA_QS, name);
		luaL_addvalue(&b);
	}
	luaL_addchar(&b, '\n');
	luaL_pushresult(&b);
}

static int
print_out(lua_State *L, const char *name, slua_writer fn, void *ctx)
{
	const char	*line;
	size_t		 len;

	print_line(L, name);
	line = lua_tolstring(L, -1, &len);
	errno = 0;		/* a writer may fail without saying why */
	if (fn(ctx, line, len) == -1) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", name,
		    errno != 0 ? strerror(errno) : "cannot write");
		return 2;
	}
	return 0;
}

static int
print_print(lua_State *L)
{
	return print_out(L, "print", print_writer, print_ctx);
}

static int
print_eprint(lua_State *L)
{
	return print_out(L, "eprint", print_stderr, NULL);
}

int
luaopen_slua_print(lua_State *L)
{
	lua_pushcfunction(L, print_print);
	lua_setglobal(L, "print");
	lua_pushcfunction(L, print_eprint);
	lua_setglobal(L, "eprint");
	return 0;
}
