/*
 * Bounding a script's run time: a job (--job-timeout) or a connection's
 * handler script (--handler-timeout).
 */
#ifndef SLUA_TIMEOUT_H
#define SLUA_TIMEOUT_H

#include "slualib.h"

void	timeout_arm(lua_State *, int, int, const char *, void (*)(void));
void	timeout_disarm(void);
int	timeout_fired(void);

#endif
