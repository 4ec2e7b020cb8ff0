/*
 * Timing for bench.sh, which has no clock finer than a fork of date(1),
 * and for slua and lua scripts, which have none at all.
 *
 *	stopwatch lines
 *	stopwatch spawn count command [arg ...]
 *
 * lines: copy standard input to standard output, each line prefixed with
 * the microseconds since stopwatch started.  A script prints "go" when its
 * warm-up is over and "done" when its timed part is; the difference of the
 * two stamps is its run time, give or take one pipe wake-up.
 *
 * spawn: run the command `count' times, one after another, with standard
 * output and standard error on /dev/null, and print the mean microseconds
 * from fork to reaped exit.  Any run that fails stops it.
 */
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

static double
now_us(void)
{
	return now() * 1e6;
}

static int
lines(void)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;
	double	 t0 = now_us();

	/* Line-buffered out, so a reader sees each stamp as it is made. */
	if (setvbuf(stdout, NULL, _IOLBF, 0) != 0)
		errx(111, "setvbuf");
	while ((n = getline(&line, &cap, stdin)) != -1) {
		if (printf("%.0f ", now_us() - t0) < 0 ||
		    fwrite(line, 1, n, stdout) != (size_t)n)
			err(111, "stdout");
	}
	if (ferror(stdin))
		err(111, "stdin");
	free(line);
	if (fflush(stdout) == EOF)
		err(111, "stdout");
	return 0;
}

static int
spawn(long count, char *argv[])
{
	double	 t0;
	pid_t	 pid;
	long	 i;
	int	 null, status;

	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		err(111, "/dev/null");
	t0 = now_us();
	for (i = 0; i < count; i++) {
		if ((pid = fork()) == -1)
			err(111, "fork");
		if (pid == 0) {
			if (dup2(null, STDIN_FILENO) == -1 ||
			    dup2(null, STDOUT_FILENO) == -1 ||
			    dup2(null, STDERR_FILENO) == -1)
				_exit(126);
			execvp(argv[0], argv);
			_exit(127);
		}
		while (waitpid(pid, &status, 0) == -1)
			if (errno != EINTR)
				err(111, "waitpid");
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			errx(111, "%s: run %ld failed (status %#x)", argv[0],
			    i + 1, status);
	}
	printf("%.1f us/run\n", (now_us() - t0) / count);
	if (fflush(stdout) == EOF)
		err(111, "stdout");
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc == 2 && strcmp(argv[1], "lines") == 0)
		return lines();
	if (argc >= 4 && strcmp(argv[1], "spawn") == 0)
		return spawn(number(argv[2], 1, 1000000, "count"), argv + 3);
	fprintf(stderr, "usage: stopwatch lines\n"
	    "       stopwatch spawn count command [arg ...]\n");
	return 100;
}
