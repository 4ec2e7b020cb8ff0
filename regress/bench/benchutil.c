/* What the C baselines of make bench share. */
#include <err.h>
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "benchutil.h"

/* A command-line number in [lo, hi], or exit 100 (a usage error). */
long
number(const char *s, long lo, long hi, const char *what)
{
	char	*end;
	long	 n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *s == '\0' || *end != '\0' || n < lo || n > hi)
		errx(100, "%s: %s: must be %ld to %ld", what, s, lo, hi);
	return n;
}

/* Monotonic seconds. */
double
now(void)
{
	struct timespec	 ts;

	if (clock_gettime(CLOCK_MONOTONIC, &ts) == -1)
		err(111, "clock_gettime");
	return ts.tv_sec + ts.tv_nsec / 1e9;
}
