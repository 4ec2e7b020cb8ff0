/*
 * What lua/isolate.c and lua/isolate_fn.c share: the state of a handler's
 * isolation (one Lua state a process) and the functions that note what a
 * connection reached.
 */
#ifndef SLUA_ISOLATEINT_H
#define SLUA_ISOLATEINT_H

#include "slualib.h"

/* Registry references; see lua/isolate.c. */
extern int	iso_base;	/* the standard globals */
extern int	iso_env;	/* the connection's globals, or false */
extern int	iso_fenvs;	/* function: its environment before */
extern int	iso_touched;	/* it reached a kept table or set an env */

void	iso_ref(lua_State *, int);
void	iso_mark(lua_State *, int);

/* lua/isolate_fn.c: in place of Lua's, and the globals' misses. */
int	iso_index(lua_State *);
int	iso_getfenv(lua_State *);
int	iso_setfenv(lua_State *);
int	iso_getmetatable(lua_State *);

#endif
