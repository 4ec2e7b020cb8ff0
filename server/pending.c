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
 * accepted.  The script then runs all the same (it may answer "408" or
 * say nothing), and its first read returns what came, or "timeout" at
 * once.
 *
 * While the handler runs a long script, its watcher thread owns this set
 * and passes the connections whose line comes to an idle handler
 * (server/handoff.c); the handler owns it the rest of the time.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "handoff.h"
#include "log.h"
#include "pending.h"
#include "util.h"

#define PENDING_SPARE	64	/* descriptors kept for the script */

struct pend {
	int		 p_fd;
	struct timespec	 p_start;
	struct timespec	 p_last;	/* accepted, or its last byte */
	char		*p_buf;
	size_t		 p_len;
	int		 p_parked;	/* kept after a request: idle, it is
					   closed, not handed over */
	int		 p_watched;	/* in pend_ep */
	int		 p_ready;	/* its line came, it could not be
					   handed over: the script's next */
};

static long long	pend_left(const struct pend *, const struct timespec *);

static struct pend	 pend[PENDING_MAX];
static int		 npend;
static int		 pend_ep = -1;	/* epoll: the held ones with input */
static int		*pend_index;	/* descriptor: its entry, or -1 */
static int		 pend_nfd;
static int		 pend_nready;	/* entries with p_ready */
static int		 pend_hasdue;
static struct timespec	 pend_due;	/* a wait may be over: look */
static int		 pend_max;
static int		 pend_tls;
static size_t		 pend_cap;	/* a first line's bytes, at most */
static long long	 pend_idle;	/* ms, --timeout; -1: none */
static long long	 pend_total;	/* ms, --request-timeout; -1: none */

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
	pend_idle = cf->cf_timeout > 0 ? cf->cf_timeout * 1000LL : -1;
	pend_total = cf->cf_request_timeout > 0 ?
	    cf->cf_request_timeout * 1000LL : -1;
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

/*
 * Unless the server speaks first, the kernel wakes no handler for a
 * client until it has sent something (or for a second, after which it
 * is held here): a client that sends at once is served at once, and
 * waits in the listen queue, not in a handler that might die with it.
 */
void
pending_listen(const int *fds, int n, int greeting)
{
	int	 i, secs = greeting ? 0 : 1;

	for (i = 0; i < n; i++)
		if (setsockopt(fds[i], IPPROTO_TCP, TCP_DEFER_ACCEPT, &secs,
		    sizeof(secs)) == -1)
			log_warn("TCP_DEFER_ACCEPT");
}

/*
 * Read what the client sent: 1 when the script should run (a line, the
 * end, an error, a full buffer; under TLS anything at all), else 0.
 */
static int
pend_read(struct pend *p)
{
	static char	 in[PENDING_BUF];
	char		*nbuf, c;
	ssize_t		 n;

	if (pend_tls) {
		n = recv(p->p_fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
		return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR);
	}
	/* Read on the stack: an idle connection's costs no heap. */
	n = read(p->p_fd, in, pend_cap - p->p_len);
	if (n == -1)
		return errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR;
	if (n == 0)
		return 1;
	if ((nbuf = realloc(p->p_buf, p->p_len + n)) == NULL)
		return 1;	/* what was read is lost: the script fails */
	p->p_buf = nbuf;
	memcpy(p->p_buf + p->p_len, in, n);
	p->p_len += n;
	clock_now(&p->p_last);
	return memchr(in, '\n', n) != NULL || p->p_len == pend_cap;
}

/* Entry i out of the set; the last takes its place. */
static void
pend_remove(int i)
{
	if (pend[i].p_fd >= 0 && pend[i].p_fd < pend_nfd)
		pend_index[pend[i].p_fd] = -1;
	if (pend[i].p_ready)
		pend_nready--;
	pend[i] = pend[--npend];
	if (i < npend && pend[i].p_fd >= 0 && pend[i].p_fd < pend_nfd)
		pend_index[pend[i].p_fd] = i;
}

static void
pend_unwatch(int i)
{
	if (pend[i].p_watched &&
	    epoll_ctl(pend_ep, EPOLL_CTL_DEL, pend[i].p_fd, NULL) == -1)
		log_warn("epoll_ctl");
	pend[i].p_watched = 0;
}

/*
 * Entry i, just added, is held: watch it for input, and look at its wait
 * when it may be over.  0, or -1 when it cannot be held.
 */
static int
pend_hold(int i)
{
	struct epoll_event	 ev = { .events = EPOLLIN };
	struct timespec		 due;
	long long		 ms;

	if (pend[i].p_fd >= pend_nfd)
		return -1;
	ev.data.fd = pend[i].p_fd;
	if (epoll_ctl(pend_ep, EPOLL_CTL_ADD, pend[i].p_fd, &ev) == -1) {
		log_warn("epoll_ctl");
		return -1;
	}
	pend[i].p_watched = 1;
	pend_index[pend[i].p_fd] = i;
	if ((ms = pend_left(&pend[i], &pend[i].p_last)) < 0)
		return 0;
	due = pend[i].p_last;
	due.tv_sec += ms / 1000;
	due.tv_nsec += (ms % 1000) * 1000000L;
	if (due.tv_nsec >= 1000000000L) {
		due.tv_sec++;
		due.tv_nsec -= 1000000000L;
	}
	if (!pend_hasdue || clock_ms(&due, &pend_due) > 0)
		pend_due = due;
	pend_hasdue = 1;
	return 0;
}

/* Hand entry i to the script, out of the set. */
static void
pend_hand(int i, int expired, struct pending_conn *pc)
{
	pend_unwatch(i);
	memset(pc, 0, sizeof(*pc));
	pc->pc_fd = pend[i].p_fd;
	pc->pc_start = pend[i].p_start;
	pc->pc_expired = expired;
	pc->pc_buf = pend[i].p_buf;
	pc->pc_len = pend[i].p_len;
	pend_remove(i);
}

/*
 * A connection just accepted: 1 and pc filled when the script should run
 * now, 0 when it is held.
 */
int
pending_accepted(int fd, struct pending_conn *pc)
{
	struct pend	*p;

	if (npend >= pend_max) {
		memset(pc, 0, sizeof(*pc));
		pc->pc_fd = fd;
		clock_now(&pc->pc_start);
		return 1;
	}
	p = &pend[npend++];
	memset(p, 0, sizeof(*p));
	p->p_fd = fd;
	clock_now(&p->p_start);
	p->p_last = p->p_start;
	if (!pend_read(p)) {
		if (pend_hold(npend - 1) == 0)
			return 0;
	}
	pend_hand(npend - 1, 0, pc);
	return 1;
}

/*
 * A connection the script kept (client.keepalive()), with what it sent
 * beyond the request the script read: 1 and pc filled when the next
 * request is already here, 0 when it is held, -1 when it cannot be (the
 * set is full: the caller closes it).
 */
int
pending_park(int fd, const char *buf, size_t len, struct pending_conn *pc)
{
	struct pend	*p;

	if (npend >= pend_max)
		return -1;
	p = &pend[npend++];
	memset(p, 0, sizeof(*p));
	p->p_fd = fd;
	p->p_parked = 1;
	clock_now(&p->p_start);
	p->p_last = p->p_start;
	if (len > 0) {
		if ((p->p_buf = malloc(len)) == NULL) {
			npend--;
			return -1;
		}
		memcpy(p->p_buf, buf, len);
		p->p_len = len;
		if (memchr(buf, '\n', len) != NULL || len >= pend_cap) {
			pend_hand(npend - 1, 0, pc);
			return 1;
		}
	}
	if (!pend_read(p)) {
		if (pend_hold(npend - 1) == 0)
			return 0;
		free(p->p_buf);
		npend--;
		return -1;
	}
	pend_hand(npend - 1, 0, pc);
	return 1;
}

/* The descriptor to poll for held connections with input, or -1. */
int
pending_fd(void)
{
	return npend > 0 ? pend_ep : -1;
}

/* The held connections' epoll set, for the handler's own. */
int
pending_epfd(void)
{
	return pend_ep;
}

/* Milliseconds left of p's wait (0: over), or -1 when it has no end. */
static long long
pend_left(const struct pend *p, const struct timespec *now)
{
	long long	 idle = -1, total = -1;

	if (pend_idle >= 0)
		idle = pend_idle - clock_ms(&p->p_last, now);
	if (pend_total >= 0)
		total = pend_total - clock_ms(&p->p_start, now);
	if (idle < 0 && pend_idle >= 0)
		idle = 0;
	if (total < 0 && pend_total >= 0)
		total = 0;
	if (idle == -1)
		return total;
	if (total == -1)
		return idle;
	return idle < total ? idle : total;
}

/* How long a poll may wait before the held connections' waits are due. */
int
pending_waitms(void)
{
	struct timespec	 now;
	long long	 ms;

	if (pend_nready > 0)
		return 0;
	if (npend == 0 || !pend_hasdue)
		return -1;
	clock_now(&now);
	ms = clock_ms(&now, &pend_due);
	if (ms < 0)
		return 0;
	return ms > 86400000 ? 86400000 : (int)ms;
}

/*
 * The waits that are over, when one may be: 1 and pc filled for the first
 * (a kept connection that said nothing is closed instead), else 0; the
 * next time to look is the earliest wait left.
 */
static int
pend_expire(struct pending_conn *pc)
{
	struct timespec	 now;
	long long	 left, min = -1;
	int		 i;

	clock_now(&now);
	if (!pend_hasdue || clock_ms(&now, &pend_due) > 0)
		return 0;
	for (i = 0; i < npend; i++) {
		if ((left = pend_left(&pend[i], &now)) != 0) {
			if (left > 0 && (min == -1 || left < min))
				min = left;
			continue;
		}
		if (pend[i].p_parked && pend[i].p_len == 0) {
			/* A kept connection idle for --timeout: closed. */
			pend_unwatch(i);
			(void)close(pend[i].p_fd);
			free(pend[i].p_buf);
			pend_remove(i--);
			continue;
		}
		pend_hand(i, 1, pc);
		return 1;	/* pend_due stays: look again at once */
	}
	pend_hasdue = min != -1;
	pend_due = now;
	pend_due.tv_sec += min / 1000;
	pend_due.tv_nsec += (min % 1000) * 1000000L;
	if (pend_due.tv_nsec >= 1000000000L) {
		pend_due.tv_sec++;
		pend_due.tv_nsec -= 1000000000L;
	}
	return 0;
}

/*
 * The entry an event of pend_ep is for, once its first line is read (or
 * it closed): its index, or -1 when it has none or is not ready yet.
 */
static int
pend_readable(const struct epoll_event *ev)
{
	int	 i;

	if (ev->data.fd < 0 || ev->data.fd >= pend_nfd ||
	    (i = pend_index[ev->data.fd]) < 0 || !pend_read(&pend[i]))
		return -1;
	return i;
}

/*
 * After a poll, ready set when pending_fd() had input: 1 and pc filled
 * for a connection the script should run now (it sent its line, or its
 * wait is over), else 0.  Epoll reports a connection that stays ready
 * after those reported with it, so none waits for ever.
 */
int
pending_take(int ready, struct pending_conn *pc)
{
	struct epoll_event	 ev[32];
	int			 i, k, n;

	for (i = 0; pend_nready > 0 && i < npend; i++)
		if (pend[i].p_ready) {
			pend_hand(i, 0, pc);
			return 1;
		}
	if (ready && npend > 0 &&
	    (n = epoll_wait(pend_ep, ev, 32, 0)) > 0) {
		for (k = 0; k < n; k++) {
			if ((i = pend_readable(&ev[k])) == -1)
				continue;
			pend_hand(i, 0, pc);
			return 1;
		}
	}
	return pend_expire(pc);
}

/* Entry i's line was read: the script's next, without an event. */
static void
pend_ready(int i)
{
	pend_unwatch(i);
	pend[i].p_ready = 1;
	pend_nready++;
}

/*
 * The watcher (server/handoff.c), while the script runs: the held
 * connections whose first line has come go to an idle handler, with what
 * was read of them; one that cannot go, or has only closed, stays ready
 * for this handler.  Unwatched first: the descriptor lives on in flight,
 * and with it its place in pend_ep.
 */
void
pending_handoff(void)
{
	struct epoll_event	 ev[32];
	int			 i, k, n;

	if (npend == 0 || (n = epoll_wait(pend_ep, ev, 32, 0)) <= 0)
		return;
	for (k = 0; k < n; k++) {
		if ((i = pend_readable(&ev[k])) == -1)
			continue;
		pend_unwatch(i);
		if (pend[i].p_len > 0 && handoff_send(pend[i].p_fd,
		    &pend[i].p_start, pend[i].p_buf, pend[i].p_len) == 0) {
			(void)close(pend[i].p_fd);
			free(pend[i].p_buf);
			pend_remove(i);
			continue;
		}
		pend_ready(i);
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
	int	 i = 0;

	while (i < npend) {
		if (pend[i].p_len == 0 && !pend_tls && pend_read(&pend[i]) &&
		    pend[i].p_len > 0)
			pend_ready(i);
		if (pend[i].p_len > 0) {
			i++;
			continue;
		}
		pend_unwatch(i);
		(void)close(pend[i].p_fd);
		free(pend[i].p_buf);
		pend_remove(i);
	}
}

void
pending_free(struct pending_conn *pc)
{
	free(pc->pc_buf);
	pc->pc_buf = NULL;
	pc->pc_len = 0;
}
