/* What the C baselines of make bench share. */
#ifndef BENCHUTIL_H
#define BENCHUTIL_H

long	number(const char *, long, long, const char *);
double	now(void);

#endif
