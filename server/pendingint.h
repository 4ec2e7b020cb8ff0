/*
 * What server/pending.c and server/pending_wait.c share: the entries of
 * a handler's held connections (one set a process).
 */
#ifndef SLUA_PENDINGINT_H
#define SLUA_PENDINGINT_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <time.h>

struct config;
struct pending_conn;

/* A peer's address, either family, in less room than a sockaddr_storage. */
union pend_addr {
	struct sockaddr		 sa;
	struct sockaddr_in	 sin;
	struct sockaddr_in6	 sin6;
};

struct pend {
	TAILQ_ENTRY(pend) p_entry;	/* in pend_held, or pend_spare */
	TAILQ_ENTRY(pend) p_qentry;	/* in pend_q, when p_queued */
	int		 p_fd;
	struct timespec	 p_start;
	struct timespec	 p_last;	/* accepted, or its last byte */
	char		*p_buf;
	size_t		 p_len;
	int		 p_parked;	/* kept after a request: idle, it is
					   closed, not handed over */
	int		 p_watched;	/* in pend_ep */
	int		 p_queued;	/* in pend_q: an event came since its
					   last read, or it is ready */
	int		 p_ready;	/* its line came, it could not be
					   handed over: the script's next */
	int		 p_stuck;	/* passing it failed: it stays */
	int		 p_drained;	/* its last read emptied the socket */
	int		 p_lent;	/* p_buf is pend_read()'s, for now */
	int		 p_havepeer;
	union pend_addr	 p_peer;
};
TAILQ_HEAD(pendlist, pend);

extern struct pendlist	 pend_held;	/* every entry */
extern int		 npend;

/* server/pending.c */
void	pend_hand(struct pend *, int, struct pending_conn *);
void	pend_close(struct pend *);

/* server/pending_wait.c */
void	pend_waitinit(const struct config *);
void	pend_schedule(const struct pend *);
int	pend_expire(struct pending_conn *);

#endif
