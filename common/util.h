/* Small helpers every process uses. */
#ifndef SLUA_UTIL_H
#define SLUA_UTIL_H

#include <sys/types.h>

#include <time.h>

void		 clock_now(struct timespec *);
long long	 clock_ms(const struct timespec *, const struct timespec *);
long long	 clock_ns(const struct timespec *, const struct timespec *);
void		 clock_add(struct timespec *, long long);
void		 proc_child(const char *, pid_t);
int		 proc_setuser(const char *);
int		 proc_signalfd(void);
void		 proc_ownedgroup(void);
void		 proc_killgroup(void);
int		 fd_devnull(int);
void		 fd_keep(int *, int);

#endif
