/* Small helpers every process uses. */
#include <sys/prctl.h>

#include <fcntl.h>
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

/*
 * A child process begins here: it dies with its parent (so nothing is left
 * behind when a parent is killed), takes its role's name for the logs and
 * ps(1), and starts with every signal unblocked and at its default.
 */
void
proc_child(const char *role, pid_t parent)
{
	sigset_t	 none;
	int		 sig;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		fatal("prctl");
	if (getppid() != parent)
		_exit(1);	/* the parent died before prctl */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP && sig != SIGPIPE)
			(void)signal(sig, SIG_DFL);
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
