/*
 * Timers on a running script.  A signal handler may not touch a Lua
 * state, so when a signal comes the handler only installs a hook (as
 * lua.c does for SIGINT), and the hook acts at the script's next
 * instruction, where it is safe:
 *
 *	limit	SIGALRM: the script ran too long, the hook raises an error.
 *		A script stuck in C never reaches the hook; a second alarm,
 *		a grace period later, calls the caller's last resort, which
 *		must be async-signal-safe and not return.
 *	status	USR1 asks for a status line: the hook logs it, or the wait
 *		the signal interrupted does (timeout_status_run()), so a
 *		busy process answers as soon as an idle one.
 *
 * The flush bound (batched output has waited long enough: send it) needs
 * no signal: while output waits, a hook at every call and every
 * TMO_FLUSHCOUNT instructions reads the clock, which costs no system
 * call, where a timer cost five and a signal for every batch.  A script
 * blocked in C reaches neither, as before: slua's own waits flush first.
 */
#include <sys/time.h>

#include <signal.h>
#include <string.h>
#include <time.h>

#include "timeout.h"

#define TMO_FLUSHCOUNT	1000	/* instructions between looks at the clock */

static lua_State		*tmo_L;
static volatile sig_atomic_t	 tmo_installed;	/* the hook at every
						   instruction */

/* The limit. */
static const char		*lim_msg;
static void			(*lim_last)(void);
static int			 lim_grace;
static struct timespec		 lim_at;
static volatile sig_atomic_t	 lim_armed;
static volatile sig_atomic_t	 lim_stage;	/* 1: the hook raises */

/* The flush. */
static void			(*fl_fn)(lua_State *);
static struct timespec		 fl_at;
static volatile sig_atomic_t	 fl_armed;
static volatile sig_atomic_t	 fl_due;

/* The status line. */
static void			(*st_fn)(void);
static volatile sig_atomic_t	 st_due;

static void
tmo_add(struct timespec *ts, long ms)
{
	(void)clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static long long
tmo_until(const struct timespec *at)
{
	struct timespec	 now;

	(void)clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(at->tv_sec - now.tv_sec) * 1000000 +
	    (at->tv_nsec - now.tv_nsec) / 1000;
}

/* Set the alarm for the earlier of the armed timers (async-signal-safe). */
static void
tmo_schedule(void)
{
	struct itimerval	 it;
	long long		 us = -1;

	if (lim_armed)
		us = tmo_until(&lim_at);
	memset(&it, 0, sizeof(it));
	if (us != -1) {
		if (us < 1)
			us = 1;
		it.it_value.tv_sec = us / 1000000;
		it.it_value.tv_usec = us % 1000000;
	}
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

static void	tmo_hook(lua_State *, lua_Debug *);

/*
 * The hook as the state asks: at every instruction while something is
 * due, every TMO_FLUSHCOUNT while output waits, else none.  Not for a
 * signal handler (tmo_install() is).
 */
static void
tmo_rehook(lua_State *L)
{
	if (lim_stage || st_due || fl_due) {
		lua_sethook(L, tmo_hook, LUA_MASKCALL | LUA_MASKRET |
		    LUA_MASKCOUNT, 1);
		tmo_installed = 1;
		return;
	}
	tmo_installed = 0;
	/*
	 * Calls too: code LuaJIT compiled counts no instructions, but a
	 * call to C leaves the trace, and the hook runs there.
	 */
	if (fl_armed)
		lua_sethook(L, tmo_hook, LUA_MASKCALL | LUA_MASKCOUNT,
		    TMO_FLUSHCOUNT);
	else
		lua_sethook(L, NULL, 0, 0);
}

static void
tmo_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	if (fl_armed && tmo_until(&fl_at) <= 0) {
		fl_armed = 0;
		fl_due = 1;
	}
	if (st_due) {
		st_due = 0;
		if (st_fn != NULL)
			st_fn();
	}
	if (fl_due) {
		fl_due = 0;
		if (fl_fn != NULL)
			fl_fn(L);
	}
	if (lim_stage) {
		/* Raised at every hook, should a pcall catch it. */
		tmo_rehook(L);
		lua_pushstring(L, lim_msg);
		lua_error(L);
	}
	tmo_rehook(L);
}

static void
tmo_install(void)
{
	if (tmo_L == NULL || tmo_installed)
		return;
	tmo_installed = 1;
	lua_sethook(tmo_L, tmo_hook, LUA_MASKCALL | LUA_MASKRET |
	    LUA_MASKCOUNT, 1);
}

static void
tmo_alarm(int sig)
{
	(void)sig;
	if (lim_armed && tmo_until(&lim_at) <= 0) {
		if (lim_stage) {
			if (lim_last != NULL)
				lim_last();
			lim_armed = 0;
		} else {
			lim_stage = 1;
			tmo_add(&lim_at, lim_grace > 0 ? lim_grace * 1000L :
			    1000);
			tmo_install();
		}
	}
	tmo_schedule();
}

static void
tmo_init(lua_State *L)
{
	static int		 done;
	struct sigaction	 sa;

	if (tmo_L != L) {
		tmo_L = L;
		tmo_installed = 0;
	}
	if (done)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tmo_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGUSR1);
	(void)sigaction(SIGALRM, &sa, NULL);
	done = 1;
}

/*
 * In secs seconds, raise msg in L; grace seconds later, call last.  A
 * zero secs arms nothing.
 */
void
timeout_arm(lua_State *L, int secs, int grace, const char *msg,
    void (*last)(void))
{
	sigset_t	 mask, old;

	if (secs <= 0)
		return;
	sigemptyset(&mask);
	sigaddset(&mask, SIGALRM);
	sigaddset(&mask, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &mask, &old);
	tmo_init(L);
	lim_msg = msg;
	lim_last = last;
	lim_grace = grace;
	lim_stage = 0;
	tmo_add(&lim_at, secs * 1000L);
	lim_armed = 1;
	tmo_schedule();
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

/* The script is done (or its state about to close): no limit, no hook. */
void
timeout_disarm(void)
{
	sigset_t	 mask, old;

	/* Nothing armed: the common case costs no system call. */
	if (!lim_armed && !lim_stage)
		return;
	sigemptyset(&mask);
	sigaddset(&mask, SIGALRM);
	sigaddset(&mask, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &mask, &old);
	if (lim_armed || lim_stage) {
		lim_armed = 0;
		lim_stage = 0;
		tmo_schedule();
	}
	if (tmo_L != NULL)
		tmo_rehook(tmo_L);
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

/* L is about to close: forget it and anything due in it. */
void
timeout_release(lua_State *L)
{
	sigset_t	 mask, old;

	if (tmo_L != L)
		return;
	sigemptyset(&mask);
	sigaddset(&mask, SIGALRM);
	sigaddset(&mask, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &mask, &old);
	lim_armed = lim_stage = 0;
	fl_armed = fl_due = 0;
	tmo_L = NULL;	/* a status asked for now waits for the next state */
	tmo_installed = 0;
	tmo_schedule();
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

/* Whether the running script's time ran out. */
int
timeout_fired(void)
{
	return lim_stage != 0;
}

/*
 * Call fn in L within ms milliseconds, unless a flush is armed already.
 * fn must cope with having nothing left to do: nobody disarms it.
 */
void
timeout_flush(lua_State *L, long ms, void (*fn)(lua_State *))
{
	if (fl_armed && tmo_L == L)
		return;
	/*
	 * No signal masked, for speed: a signal that installs the hook at
	 * every instruction meanwhile may be put back to the count hook,
	 * which finds what is due within TMO_FLUSHCOUNT instructions.
	 */
	tmo_init(L);
	fl_fn = fn;
	tmo_add(&fl_at, ms);
	fl_armed = 1;
	if (!tmo_installed)
		tmo_rehook(L);
}

/* L runs now: a status asked for is logged at its next instruction. */
void
timeout_state(lua_State *L)
{
	sigset_t	 mask, old;

	sigemptyset(&mask);
	sigaddset(&mask, SIGALRM);
	sigaddset(&mask, SIGUSR1);
	(void)sigprocmask(SIG_BLOCK, &mask, &old);
	tmo_init(L);
	if (st_due)
		tmo_install();
	(void)sigprocmask(SIG_SETMASK, &old, NULL);
}

static void
tmo_usr1(int sig)
{
	(void)sig;
	st_due = 1;
	tmo_install();
}

/*
 * USR1 calls fn, which logs the process's status, outside the signal
 * handler: in the hook, or in timeout_status_run().  SA_RESTART keeps the
 * script's reads whole; poll(2), where slua waits, returns EINTR anyway.
 */
void
timeout_status(void (*fn)(void))
{
	struct sigaction	 sa;

	st_fn = fn;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tmo_usr1;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGALRM);
	(void)sigaction(SIGUSR1, &sa, NULL);
}

/* For a wait that a signal interrupted: log the status asked for. */
void
timeout_status_run(void)
{
	if (!st_due)
		return;
	st_due = 0;
	if (st_fn != NULL)
		st_fn();
}
