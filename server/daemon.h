/*
 * What makes the tcp-mode supervisor and a worker-only host
 * (worker/host.c) services: detaching with a parent that waits until the
 * daemon serves (server/daemon.c), systemd's notify socket
 * (server/daemon.c), and the pidfile (server/pidfile.c).
 */
#ifndef SLUA_DAEMON_H
#define SLUA_DAEMON_H

#include <sys/types.h>

struct pidfile {
	const char	*pf_path;
	int		 pf_fd;		/* locked; -1: none */
};

int	pf_open(struct pidfile *, const char *);
int	pf_write(struct pidfile *);
void	pf_remove(struct pidfile *);

void	daemon_detach(void);
void	daemon_ready(void);

void	daemon_notifyinit(void);
int	daemon_notifying(void);
void	daemon_notify(const char *, ...)
	    __attribute__((format(printf, 1, 2)));

#endif
