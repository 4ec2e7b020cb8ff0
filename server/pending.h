/*
 * The connections a tcp handler holds before it runs the script for
 * them: until a client has sent its first line (under TLS, its first
 * byte), it costs a descriptor and a poll entry, not the handler.
 */
#ifndef SLUA_PENDING_H
#define SLUA_PENDING_H

#include <sys/types.h>
#include <sys/socket.h>

#include <poll.h>
#include <time.h>

#define PENDING_MAX	4096	/* connections held by one handler, at most */
#define PENDING_BUF	16384	/* read of a first line, at most */
#define PENDING_EVENTS	64	/* events taken at once */

struct config;

/* A connection handed to the script. */
struct pending_conn {
	int		 pc_fd;
	struct timespec	 pc_start;	/* accepted: the request's deadline
					   runs from here */
	int		 pc_expired;	/* its wait ran out, not its line */
	char		*pc_buf;	/* what was read of it (not TLS) */
	size_t		 pc_len;
	int		 pc_lent;	/* pc_buf is not the heap's, and good
					   until the held set is read again */
	int		 pc_drained;	/* that read emptied the socket */
	int		 pc_watched;	/* in the held set's epoll already */
	int		 pc_havepeer;	/* pc_ss is the client's: */
	int		 pc_proxied;	/* a PROXY header said who: */
	struct sockaddr_storage pc_ss;	/* the client, */
	char		 pc_peer[64];	/* the same as text ("": not yet), */
	char		 pc_balancer[64]; /* and the balancer's address */
};

void	pending_init(const struct config *, int);
void	pending_listen(const int *, int, int);
int	pending_count(void);
int	pending_full(void);
int	pending_queued(void);
int	pending_accepted(int, const struct sockaddr_storage *,
	    struct pending_conn *);
int	pending_park(struct pending_conn *, const char *, size_t, int);
void	pending_release(const struct pending_conn *);
int	pending_epfd(void);
void	pending_handlerset(int);
int	pending_event(int);
int	pending_waitms(void);
int	pending_take(int, struct pending_conn *);
void	pending_handoff(void);
void	pending_dropidle(void);
void	pending_free(struct pending_conn *);

#endif
