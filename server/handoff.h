/*
 * Held connections that become ready while their handler runs a script
 * go to an idle handler (server/handoff.c).
 */
#ifndef SLUA_HANDOFF_H
#define SLUA_HANDOFF_H

#include <time.h>

struct pending_conn;
struct sockaddr;

#define HANDOFF_MS	10	/* a script running this long has its
				   ready held connections moved */
#define HANDOFF_PER	16	/* tokens a handler that waits puts in */
#define HANDOFF_KEEP	4	/* descriptors handoff_keep() adds */

int	handoff_open(void);
void	handoff_close(void);
int	handoff_keep(int *);
void	handoff_start(int);
int	handoff_fd(void);
void	handoff_busy(void);
void	handoff_idle(void);
void	handoff_stop(void);
void	handoff_waiting(void);
int	handoff_recv(struct pending_conn *);
int	handoff_send(int, const struct timespec *, const struct sockaddr *,
	    const char *, size_t);

#endif
