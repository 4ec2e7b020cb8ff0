/*
 * Run-time limits.  A signal handler may not touch a Lua state, so when the
 * time is up SIGALRM only installs a hook (as lua.c does for SIGINT), and
 * the hook raises the error at the next instruction.  A script stuck in C
 * never reaches the hook: a second alarm, a grace period later, calls the
 * caller's last resort, which must be async-signal-safe and not return.
 */
#include <sys/time.h>

#include <signal.h>
#include <string.h>

#include "timeout.h"

static lua_State		*tmo_L;
static const char		*tmo_msg;
static void			(*tmo_last)(void);
static int			 tmo_grace;
static volatile sig_atomic_t	 tmo_stage;	/* 0 armed, 1 hooked */

static void
timeout_set(int secs)
{
	struct itimerval	 it;

	memset(&it, 0, sizeof(it));
	it.it_value.tv_sec = secs;
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

/* Raise the error, and keep raising it should a pcall catch it. */
static void
timeout_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	lua_pushstring(L, tmo_msg);
	lua_error(L);
}

static void
timeout_alarm(int sig)
{
	(void)sig;
	if (tmo_stage == 0 && tmo_L != NULL) {
		tmo_stage = 1;
		lua_sethook(tmo_L, timeout_hook, LUA_MASKCALL | LUA_MASKRET |
		    LUA_MASKCOUNT, 1);
		timeout_set(tmo_grace > 0 ? tmo_grace : 1);
		return;
	}
	if (tmo_last != NULL)
		tmo_last();
}

/*
 * In secs seconds, raise msg in L; grace seconds later, call last.  A
 * zero secs arms nothing.
 */
void
timeout_arm(lua_State *L, int secs, int grace, const char *msg,
    void (*last)(void))
{
	struct sigaction	 sa;

	if (secs <= 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = timeout_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGALRM, &sa, NULL);
	tmo_L = L;
	tmo_msg = msg;
	tmo_last = last;
	tmo_grace = grace;
	tmo_stage = 0;
	timeout_set(secs);
}

void
timeout_disarm(void)
{
	timeout_set(0);
	if (tmo_L != NULL && tmo_stage == 1)
		lua_sethook(tmo_L, NULL, 0, 0);
	tmo_L = NULL;
	tmo_stage = 0;
}

/* Whether the running script's time ran out. */
int
timeout_fired(void)
{
	return tmo_stage != 0;
}
