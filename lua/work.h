/*
 * The work.* API's link to the broker, set up by the process that runs the
 * handler or worker script before it creates the Lua state.
 */
#ifndef SLUA_WORK_H
#define SLUA_WORK_H

#include <stddef.h>
#include <stdint.h>

#include "slualib.h"

void	work_handler_init(int, int, uint32_t, size_t);
void	work_worker_init(int, size_t, int, int);
void	work_direct_init(int *, int, int);
void	work_drain(lua_State *);
void	work_finish(lua_State *);
void	work_reset(lua_State *);
void	work_worker_abort(const char *, int);
void	work_worker_startfail(const char *);
void	work_worker_drain(void);
void	work_worker_exit(void);
void	work_worker_status(void);
unsigned long work_accepted(void);
int	work_brokerdead(void);
void	work_flush(void);
int	luaopen_slua_work(lua_State *);

#endif
