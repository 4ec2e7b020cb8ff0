/*
 * A tcp handler's connections kept apart: each runs with globals of its
 * own, and what it changed in the standard library tables, the string
 * metatable or the standard globals is undone when it ends.
 */
#ifndef SLUA_ISOLATE_H
#define SLUA_ISOLATE_H

#include "slualib.h"

void	isolate_init(lua_State *);
void	isolate_enter(lua_State *);
void	isolate_leave(lua_State *);

#endif
