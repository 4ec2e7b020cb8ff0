/* Small helpers every process uses. */
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/types.h>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* Monotonic time: intervals and deadlines never jump with the clock. */
void
clock_now(struct timespec *ts)
{
	if (clock_gettime(CLOCK_MONOTONIC, ts) == -1)
		fatal("clock_gettime");
}

/* Milliseconds from a to b (negative when b is earlier). */
long long
clock_ms(const struct timespec *a, const struct timespec *b)
{
	return (long long)(b->tv_sec - a->tv_sec) * 1000 +
	    (b->tv_nsec - a->tv_nsec) / 1000000;
}

long long
clock_ns(const struct timespec *a, const struct timespec *b)
{
	return (long long)(b->tv_sec - a->tv_sec) * 1000000000LL +
	    (b->tv_nsec - a->tv_nsec);
}

void
clock_add(struct timespec *ts, long long ms)
{
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* The user children run as (-u); set by the supervisor before it forks. */
static struct {
	int	 set;
	uid_t	 uid;
	gid_t	 gid;
	char	 name[64];
} proc_user;

int
proc_setuser(const char *name)
{
	struct passwd	*pw;

	if ((pw = getpwnam(name)) == NULL) {
		log_warnx("user %s: no such user", name);
		return -1;
	}
	proc_user.set = 1;
	proc_user.uid = pw->pw_uid;
	proc_user.gid = pw->pw_gid;
	(void)strlcpy(proc_user.name, pw->pw_name, sizeof(proc_user.name));
	return 0;
}

/* Drop to the -u user, in the one order that leaves nothing behind. */
static void
proc_drop(void)
{
	uid_t	 r, e, s;

	/* A worker's parent, the broker, has dropped already. */
	if (!proc_user.set || (getuid() == proc_user.uid &&
	    geteuid() == proc_user.uid && proc_user.uid != 0))
		return;
	if (initgroups(proc_user.name, proc_user.gid) == -1)
		fatal("initgroups %s", proc_user.name);
	if (setresgid(proc_user.gid, proc_user.gid, proc_user.gid) == -1)
		fatal("setresgid %s", proc_user.name);
	if (setresuid(proc_user.uid, proc_user.uid, proc_user.uid) == -1)
		fatal("setresuid %s", proc_user.name);
	if (getresuid(&r, &e, &s) == -1 || r != proc_user.uid ||
	    e != proc_user.uid || s != proc_user.uid)
		fatalx("cannot drop privileges to %s", proc_user.name);
}

/*
 * A child process begins here: it dies with its parent (so nothing is left
 * behind when a parent is killed), takes its role's name for the logs and
 * ps(1), runs as the -u user, and starts with every signal unblocked and
 * at its default.
 */
void
proc_child(const char *role, pid_t parent)
{
	sigset_t	 none;
	int		 sig;

	/* Changing credentials clears the parent-death signal: drop first. */
	proc_drop();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("prctl");
	if (getppid() != parent)
		_exit(1);	/* the parent died before prctl */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGPIPE)
			(void)signal(sig, SIG_DFL);
	/* A status asked for before the child can give it is not fatal. */
	(void)signal(SIGUSR1, SIG_IGN);
	sigemptyset(&none);
	if (sigprocmask(SIG_SETMASK, &none, NULL) == -1)
		fatal("sigprocmask");
	log_setrole(role);
	setproctitle("%s", role);
}

static int
fd_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * Close every descriptor above stderr but the n in keep (which this
 * sorts): a child keeps only what its role needs.
 */
void
fd_keep(int *keep, int n)
{
	unsigned int	 from = 3;
	int		 i;

	qsort(keep, n, sizeof(*keep), fd_cmp);
	for (i = 0; i < n; i++) {
		if (keep[i] < 3)
			continue;
		if ((unsigned int)keep[i] > from)
			(void)close_range(from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	(void)close_range(from, ~0U, 0);
}

/*
 * A parent's signals, read from a descriptor in its poll loop rather than
 * in handlers: CHLD, TERM, INT, HUP and USR1, blocked and returned by a
 * signalfd.  Its children unblock them in proc_child().
 */
int
proc_signalfd(void)
{
	sigset_t	 mask;
	int		 fd;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) == -1)
		fatal("sigprocmask");
	if ((fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal("signalfd");
	return fd;
}

/* Point fd at /dev/null. */
int
fd_devnull(int fd)
{
	int	 null;

	if ((null = open("/dev/null", O_RDWR)) == -1)
		return -1;
	if (null != fd) {
		if (dup2(null, fd) == -1) {
			(void)close(null);
			return -1;
		}
		(void)close(null);
	}
	return 0;
}

/*
 * A handler or worker leads a process group of its own, so that when it
 * is cut for its time, what its script started (os.execute) goes too.
 * proc_ownedgroup() makes the group and notes the parent's to go back to;
 * proc_killgroup(), from a signal handler, steps back into it and kills
 * what is left in ours, so that our own exit status stays ours.
 */
static pid_t	 proc_homegroup = -1;

void
proc_ownedgroup(void)
{
	/* The parent's, not ours: it may have moved us already. */
	proc_homegroup = getpgid(getppid());
	if (setpgid(0, 0) == -1)
		proc_homegroup = -1;
}

void
proc_killgroup(void)
{
	pid_t	 me = getpid();

	if (proc_homegroup == -1 || getpgrp() != me)
		return;
	if (setpgid(0, proc_homegroup) == 0)
		(void)kill(-me, SIGKILL);
}
