/*
 * Connections held until they have said something.  Most protocols slua
 * serves have the client speak first; a client that connects and sends
 * nothing, or a byte at a time, would otherwise hold a whole handler
 * process for as long as --timeout allows each byte.  The handler accepts
 * it into this set instead, reads it here, in C, as it comes, and runs
 * the script once a first line is complete (or the client has closed,
 * failed, or sent --max-line bytes).  What was read is handed to the
 * script's client.line().  Under TLS the handshake is the first thing the
 * client says: the first byte is enough, and tls_accept() bounds the rest.
 *
 * A held connection ends its wait like the script's first read would: at
 * --timeout after its last byte, or at --request-timeout after it was
 * accepted (server/pending_wait.c).  The script then runs all the same
 * (it may answer "408" or say nothing), and its first read returns what
 * came, or "timeout" at once.
 *
 * While the handler runs a long script, its watcher thread owns this set
 * and passes the connections whose line comes to an idle handler
 * (server/handoff.c); the handler owns it the rest of the time.
 *
 * A held connection is in an epoll set of this file's (pend_ep) from the
 * time it is first held until it closes, the scripts run for it
 * included, edge-triggered: holding a kept connection again after its
 * script costs no system call, and taking one costs its read.  An event
 * puts its entry in a queue (pend_q), which the handler empties, one
 * connection at a time, before it waits again; the read that finds a
 * line hands the connection to the script.  An edge comes once per
 * arrival, so nothing may be left unread behind it: a read that filled
 * its buffer (or the script's last read, client.c) is followed by
 * another before the connection is held again, and an event for the
 * connection the script runs on is noted, not lost.
 */
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "handoff.h"
#include "log.h"
#include "pending.h"
#include "pendingint.h"
#include "util.h"

#define PENDING_SPARE	64	/* descriptors kept for the script */


static struct pend	 pend[PENDING_MAX];	/* an entry keeps its slot */
struct pendlist		 pend_held = TAILQ_HEAD_INITIALIZER(pend_held);
static struct pendlist	 pend_spare = TAILQ_HEAD_INITIALIZER(pend_spare);
static int		 pend_used;	/* slots ever used: pend[0..pend_used) */
static struct pendlist	 pend_q = TAILQ_HEAD_INITIALIZER(pend_q);
int			 npend;
static int		 pend_ep = -1;	/* epoll: the held ones, and the
					   script's when it was held */
static int		 pend_hep = -1;	/* the handler's own, with them too */
static int		*pend_index;	/* descriptor: its slot, or -1 */
static int		 pend_nfd;
static int		 pend_curfd = -1;	/* the script's, in pend_ep */
static int		 pend_curedge;	/* ... which had an event meanwhile */
static int		 pend_max;
static int		 pend_tls;
static size_t		 pend_cap;	/* a first line's bytes, at most */

void
pending_init(const struct config *cf, int tls)
{
	struct rlimit	 rl = { PENDING_MAX + 2 * PENDING_SPARE,
			    PENDING_MAX + 2 * PENDING_SPARE };

	pend_max = PENDING_MAX;
	/* Held connections are descriptors: use what the hard limit allows. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)PENDING_MAX + 2 * PENDING_SPARE) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ||
		    rl.rlim_max > (rlim_t)PENDING_MAX + 2 * PENDING_SPARE ?
		    (rlim_t)PENDING_MAX + 2 * PENDING_SPARE : rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			(void)getrlimit(RLIMIT_NOFILE, &rl);
		if (rl.rlim_cur < (rlim_t)PENDING_MAX + 2 * PENDING_SPARE)
			pend_max = rl.rlim_cur > 2 * PENDING_SPARE ?
			    (int)rl.rlim_cur - 2 * PENDING_SPARE : 0;
	}
	/* Descriptors past this many are not held: the script has them. */
	pend_nfd = rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < 1 << 16 ?
	    (int)rl.rlim_cur : 1 << 16;
	if ((pend_index = reallocarray(NULL, pend_nfd, sizeof(int))) == NULL)
		fatal("pending_init");
	memset(pend_index, 0xff, pend_nfd * sizeof(int));	/* -1 */
	if ((pend_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	pend_tls = tls;
	pend_cap = cf->cf_max_line + 1 < PENDING_BUF ?
	    (size_t)cf->cf_max_line + 1 : PENDING_BUF;
	pend_waitinit(cf);
}

int
pending_count(void)
{
	return npend;
}

int
pending_full(void)
{
	return npend >= pend_max;
}

/* Held connections had events not yet read: take them before waiting. */
int
pending_queued(void)
{
	return !TAILQ_EMPTY(&pend_q);
}

/* A new entry for fd, with the address ss (or none), or NULL: full. */
static struct pend *
pend_new(int fd, const struct sockaddr_storage *ss)
{
	struct pend	*p;

	if (npend >= pend_max)
		return NULL;
	/* A slot freed before, or one never used: an idle handler's
	   memory is the slots it used. */
	if ((p = TAILQ_FIRST(&pend_spare)) != NULL)
		TAILQ_REMOVE(&pend_spare, p, p_entry);
	else
		p = &pend[pend_used++];
	memset(p, 0, sizeof(*p));
	p->p_fd = fd;
	clock_now(&p->p_start);
	p->p_last = p->p_start;
	if (ss != NULL && ss->ss_family == AF_INET) {
		memcpy(&p->p_peer.sin, ss, sizeof(p->p_peer.sin));
		p->p_havepeer = 1;
	} else if (ss != NULL && ss->ss_family == AF_INET6) {
		memcpy(&p->p_peer.sin6, ss, sizeof(p->p_peer.sin6));
		p->p_havepeer = 1;
	}
	TAILQ_INSERT_TAIL(&pend_held, p, p_entry);
	if (fd >= 0 && fd < pend_nfd)
		pend_index[fd] = p - pend;
	npend++;
	return p;
}

static void
pend_enqueue(struct pend *p)
{
	if (p->p_queued)
		return;
	TAILQ_INSERT_TAIL(&pend_q, p, p_qentry);
	p->p_queued = 1;
}

static void
pend_dequeue(struct pend *p)
{
	if (!p->p_queued)
		return;
	TAILQ_REMOVE(&pend_q, p, p_qentry);
	p->p_queued = 0;
}

/* Entry p out of the set. */
static void
pend_remove(struct pend *p)
{
	if (p->p_fd >= 0 && p->p_fd < pend_nfd)
		pend_index[p->p_fd] = -1;
	pend_dequeue(p);
	TAILQ_REMOVE(&pend_held, p, p_entry);
	TAILQ_INSERT_HEAD(&pend_spare, p, p_entry);
	npend--;
}

/*
 * Read what the client sent: 1 when the script should run (a line, the
 * end, an error, a full buffer; under TLS anything at all), else 0.  A
 * whole line read at once stays where it was read, lent (p_lent) until
 * the caller hands it over or keeps it (pend_keep): most requests come
 * whole, and cost no heap.  The watcher reads only while the script
 * runs, and the handler has taken what it was lent before it starts one.
 */
static int
pend_read(struct pend *p)
{
	static char	 in[PENDING_BUF];
	char		*nbuf, c;
	ssize_t		 n;
	int		 line;

	if (pend_tls) {
		n = recv(p->p_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR);
	}
	n = recv(p->p_fd, in, pend_cap - p->p_len, 0);
	p->p_drained = n < (ssize_t)(pend_cap - p->p_len);
	if (n == -1)
		return errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR;
	if (n == 0)
		return 1;
	clock_now(&p->p_last);
	line = memchr(in, '\n', n) != NULL || p->p_len + n == pend_cap;
	if (p->p_len == 0 && line) {
		p->p_buf = in;
		p->p_len = n;
		p->p_lent = 1;
		return 1;
	}
	if ((nbuf = realloc(p->p_buf, p->p_len + n)) == NULL)
		return 1;	/* what was read is lost: the script fails */
	p->p_buf = nbuf;
	memcpy(p->p_buf + p->p_len, in, n);
	p->p_len += n;
	return line;
}

/* Entry p stays: what it was lent goes on the heap. */
static void
pend_keep(struct pend *p)
{
	char	*nbuf;

	if (!p->p_lent)
		return;
	p->p_lent = 0;
	if ((nbuf = malloc(p->p_len)) == NULL) {
		p->p_buf = NULL;
		p->p_len = 0;	/* what was read is lost: the script fails */
		return;
	}
	memcpy(nbuf, p->p_buf, p->p_len);
	p->p_buf = nbuf;
}

static void
pend_freebuf(struct pend *p)
{
	if (!p->p_lent)
		free(p->p_buf);
	p->p_buf = NULL;
	p->p_len = 0;
	p->p_lent = 0;
}

/* Entry p into pend_ep and the handler's set: 0, or -1. */
static int
pend_watch(struct pend *p)
{
	struct epoll_event	 ev = { .events = EPOLLIN | EPOLLRDHUP |
				    EPOLLET };

	if (p->p_watched)
		return 0;
	ev.data.fd = p->p_fd;
	if (epoll_ctl(pend_ep, EPOLL_CTL_ADD, p->p_fd, &ev) == -1) {
		log_warn("epoll_ctl");
		return -1;
	}
	if (pend_hep != -1 &&
	    epoll_ctl(pend_hep, EPOLL_CTL_ADD, p->p_fd, &ev) == -1) {
		log_warn("epoll_ctl");
		if (epoll_ctl(pend_ep, EPOLL_CTL_DEL, p->p_fd, NULL) == -1)
			log_warn("epoll_ctl");
		return -1;
	}
	p->p_watched = 1;
	return 0;
}

static void
pend_unwatch(struct pend *p)
{
	if (!p->p_watched)
		return;
	if (epoll_ctl(pend_ep, EPOLL_CTL_DEL, p->p_fd, NULL) == -1 ||
	    (pend_hep != -1 &&
	    epoll_ctl(pend_hep, EPOLL_CTL_DEL, p->p_fd, NULL) == -1))
		log_warn("epoll_ctl");
	p->p_watched = 0;
}

/*
 * Entry p, just added, is held: in pend_ep (which reports it at once if
 * it has input already), and its wait looked at when it may be over.
 * 0, or -1 when it cannot be held.
 */
static int
pend_hold(struct pend *p)
{
	if (p->p_fd >= pend_nfd || pend_watch(p) == -1)
		return -1;
	pend_schedule(p);
	return 0;
}

/*
 * Hand entry p to the script, out of the set; a connection in pend_ep
 * stays there, its events noted while the script runs.
 */
void
pend_hand(struct pend *p, int expired, struct pending_conn *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->pc_fd = p->p_fd;
	pc->pc_start = p->p_start;
	pc->pc_expired = expired;
	pc->pc_buf = p->p_buf;
	pc->pc_len = p->p_len;
	pc->pc_lent = p->p_lent;
	pc->pc_drained = p->p_drained;
	pc->pc_watched = p->p_watched;
	if (p->p_havepeer) {
		memcpy(&pc->pc_ss, &p->p_peer, sizeof(p->p_peer));
		pc->pc_havepeer = 1;
	}
	if (p->p_watched) {
		pend_curfd = p->p_fd;
		pend_curedge = 0;
	}
	pend_remove(p);
}

/*
 * A connection just accepted from ss: 1 and pc filled when the script
 * should run now, 0 when it is held.
 */
int
pending_accepted(int fd, const struct sockaddr_storage *ss,
    struct pending_conn *pc)
{
	struct pend	*p;

	if ((p = pend_new(fd, ss)) == NULL) {
		memset(pc, 0, sizeof(*pc));
		pc->pc_fd = fd;
		clock_now(&pc->pc_start);
		pc->pc_ss = *ss;
		pc->pc_havepeer = 1;
		return 1;
	}
	if (!pend_read(p) && pend_hold(p) == 0)
		return 0;
	pend_hand(p, 0, pc);
	return 1;
}

/*
 * The connection in pc, which the script kept (client.keepalive()), with
 * what it sent beyond the request the script read (buf), drained set
 * when the script's last read emptied the socket: 1 and pc filled again
 * when the next request is already here, 0 when it is held, -1 when it
 * cannot be (the set is full: the caller closes it).  A connection
 * drained, in pend_ep already and without an event since, is held with
 * no system call: what comes next is an event.
 */
int
pending_park(struct pending_conn *pc, const char *buf, size_t len,
    int drained)
{
	struct pend	*p;
	int		 edge = 0;

	if (pc->pc_fd == pend_curfd) {
		edge = pend_curedge;
		pend_curfd = -1;
	}
	if ((p = pend_new(pc->pc_fd, pc->pc_havepeer ? &pc->pc_ss :
	    NULL)) == NULL)
		return -1;
	p->p_parked = 1;
	p->p_watched = pc->pc_watched;
	p->p_drained = drained;
	if (len > 0) {
		if ((p->p_buf = malloc(len)) == NULL) {
			pend_remove(p);
			return -1;
		}
		memcpy(p->p_buf, buf, len);
		p->p_len = len;
		if (memchr(buf, '\n', len) != NULL || len >= pend_cap) {
			pend_hand(p, 0, pc);
			return 1;
		}
	}
	if ((edge || !drained) && pend_read(p)) {
		pend_hand(p, 0, pc);
		return 1;
	}
	if (pend_hold(p) == 0)
		return 0;
	pend_freebuf(p);
	pend_remove(p);
	return -1;
}

/* The script's connection, not kept, closes: no more events of it. */
void
pending_release(const struct pending_conn *pc)
{
	if (pc->pc_fd == pend_curfd)
		pend_curfd = -1;
}

/*
 * The held connections' epoll set: the watcher's, and the handler's
 * while it does not listen (nested in its set then).
 */
int
pending_epfd(void)
{
	return pend_ep;
}

/*
 * The set the handler waits on while it listens: every held connection
 * is in it too, so that one wait tells the handler of them all, without
 * a second on pend_ep (events it reads with pending_event()).  pend_ep
 * has their events as well, as the watcher and a handler not listening
 * need: they come twice, and the second finds nothing, costing a read
 * at most.
 */
void
pending_handlerset(int ep)
{
	pend_hep = ep;
}

/* Close a held connection. */
void
pend_close(struct pend *p)
{
	pend_unwatch(p);
	(void)close(p->p_fd);
	pend_freebuf(p);
	pend_remove(p);
}

/*
 * An event for fd: a held connection goes in the queue, to be read; the
 * script's connection has it noted.  0 when fd is neither.
 */
int
pending_event(int fd)
{
	int	 i;

	if (fd == pend_curfd)
		pend_curedge = 1;
	else if (fd >= 0 && fd < pend_nfd && (i = pend_index[fd]) >= 0)
		pend_enqueue(&pend[i]);
	else
		return 0;
	return 1;
}

/* The events of pend_ep, waiting up to ms for one.  How many came. */
static int
pend_events(int ms)
{
	struct epoll_event	 ev[PENDING_EVENTS];
	int			 k, n;

	if ((n = epoll_wait(pend_ep, ev, PENDING_EVENTS, ms)) <= 0)
		return 0;
	for (k = 0; k < n; k++)
		(void)pending_event(ev[k].data.fd);
	return n;
}

/*
 * The handler, ready set when pend_ep had events: 1 and pc filled for a
 * connection the script should run now (its line came, or its wait is
 * over), else 0.  The queue is filled only once it is empty, and the
 * handler waits (on its listeners too) between two fillings: none waits
 * for ever, neither a held connection nor a new client.
 */
int
pending_take(int ready, struct pending_conn *pc)
{
	struct pend	*p;

	if (TAILQ_EMPTY(&pend_q) && ready && npend > 0)
		(void)pend_events(0);
	while ((p = TAILQ_FIRST(&pend_q)) != NULL) {
		pend_dequeue(p);
		if (p->p_ready || pend_read(p)) {
			pend_hand(p, 0, pc);
			return 1;
		}
	}
	return pend_expire(pc);
}

/* Entry p's line was read: the script's next, without an event. */
static void
pend_ready(struct pend *p)
{
	pend_keep(p);
	p->p_ready = 1;
	pend_dequeue(p);
	TAILQ_INSERT_HEAD(&pend_q, p, p_qentry);
	p->p_queued = 1;
}

/*
 * Entry p's line came while the script runs: to an idle handler, with
 * what was read of it, while one waits to take it (*more set), or it
 * stays, ready, for this one, to be passed at a later look (unless
 * passing it failed).  Out of pend_ep first: the descriptor lives on in
 * flight, and with it its place there.
 */
static void
pend_pass(struct pend *p, int *more)
{
	int	 r;

	if (p->p_len > 0 && !p->p_stuck && *more) {
		pend_unwatch(p);
		if ((r = handoff_send(p->p_fd, &p->p_start, p->p_havepeer ?
		    &p->p_peer.sa : NULL, p->p_buf, p->p_len)) == 0) {
			(void)close(p->p_fd);
			pend_freebuf(p);
			pend_remove(p);
			return;
		}
		if (r == -1)
			*more = 0;	/* no handler waits to take it */
		else
			p->p_stuck = 1;	/* the socket refused it: it stays */
	}
	pend_ready(p);
}

/*
 * The watcher (server/handoff.c), while the script runs: the held
 * connections whose first line has come go to an idle handler; one that
 * cannot go, or has only closed, stays ready for this handler.  Those the
 * handler had events for and had not read yet are read first.  No more
 * are passed than the handlers that wait idle take in turn (the tokens
 * in server/handoff.c): more would fill the socket under load, when
 * handlers are idle a moment and busy the next.
 */
void
pending_handoff(void)
{
	struct pend	*p, *np;
	int		 more = 1;

	if (npend == 0)
		return;
	(void)pend_events(0);
	TAILQ_FOREACH_SAFE(p, &pend_q, p_qentry, np) {
		if (p->p_ready ? !p->p_stuck : pend_read(p))
			pend_pass(p, &more);
		else if (!p->p_ready)
			pend_dequeue(p);
	}
}

/*
 * A handler leaving closes the connections that have said nothing yet;
 * what has come on one (a kept connection's next request, sent while the
 * script ran) is read first, and served.
 */
void
pending_dropidle(void)
{
	struct pend	*p, *np;

	TAILQ_FOREACH_SAFE(p, &pend_held, p_entry, np) {
		if (p->p_len == 0 && !pend_tls && pend_read(p) &&
		    p->p_len > 0)
			pend_ready(p);
		if (p->p_len == 0)
			pend_close(p);
	}
}

void
pending_free(struct pending_conn *pc)
{
	if (!pc->pc_lent)
		free(pc->pc_buf);
	pc->pc_buf = NULL;
	pc->pc_len = 0;
	pc->pc_lent = 0;
}
