/*
 * Timers on a running script: a limit on its run time (--job-timeout,
 * --handler-timeout), and a bound on how long batched output may wait.
 */
#ifndef SLUA_TIMEOUT_H
#define SLUA_TIMEOUT_H

#include "slualib.h"

void	timeout_arm(lua_State *, int, int, const char *, void (*)(void));
void	timeout_disarm(void);
void	timeout_release(lua_State *);
int	timeout_fired(void);
void	timeout_flush(lua_State *, long, void (*)(lua_State *));
void	timeout_state(lua_State *);
void	timeout_status(void (*)(void));
void	timeout_status_run(void);

#endif
