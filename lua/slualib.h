/*
 * slua's Lua libraries and the one place that opens them.  Each library is
 * a file in lua/ with a luaopen_* function registered in lua/libs.c.
 */
#ifndef SLUA_SLUALIB_H
#define SLUA_SLUALIB_H

#include <stddef.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#ifdef SLUA_LUAJIT
#include <luajit.h>
#define LUA_NAME	LUAJIT_VERSION
#else
#define LUA_NAME	LUA_RELEASE
#endif

/* Which process a Lua state runs in: the work.* API differs by role. */
enum slua_role {
	ROLE_NORMAL,
	ROLE_HANDLER,
	ROLE_WORKER,
};

lua_State	*slua_newstate(enum slua_role);
void		 slua_setmemlimit(size_t);
void		 slua_openlibs(lua_State *, enum slua_role);

struct config;

/* A script: read once, compiled as often as a process needs it. */
struct script {
	char	*sc_name;	/* path, or "(command line)" */
	char	*sc_chunkname;	/* "@path" or "=(command line)" */
	char	*sc_buf;
	size_t	 sc_len;
};

int	 script_read(struct script *, const char *, char *, size_t);
int	 script_load(lua_State *, const struct script *);
int	 script_require(lua_State *, const struct config *);
int	 script_open(struct script *, const char *);
void	 script_free(struct script *);
int	 slua_traceback(lua_State *);
int	 slua_pcall(lua_State *, int, int);
void	 slua_report(lua_State *, int);

/* The libraries of lua/ that every state gets, in any role. */
int	 luaopen_slua_print(lua_State *);
int	 luaopen_slua_json(lua_State *);
int	 luaopen_slua_pcre(lua_State *);
int	 luaopen_slua_digest(lua_State *);
int	 luaopen_slua_iconv(lua_State *);
int	 luaopen_slua_epoch(lua_State *);
int	 luaopen_slua_posix(lua_State *);

/* Where print() writes: standard output, or a handler's client. */
typedef int (*slua_writer)(void *ctx, const char *buf, size_t len); /* 0 or -1 */
void print_setwriter(slua_writer fn, void *ctx);   /* NULL fn: back to stdout */

/* Normal mode: the stand-alone interpreter. */
int	 interp_main(struct config *, const char *);

#endif
