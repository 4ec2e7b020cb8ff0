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
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pending.h"
#include "util.h"

#define PENDING_BUF	16384	/* read of a first line, at most */
#define PENDING_SPARE	64	/* descriptors kept for the script */

struct pend {
	int		 p_fd;
	struct timespec	 p_start;
	struct timespec	 p_last;	/* accepted, or its last byte */
	char		*p_buf;
	size_t		 p_len;
	int		 p_parked;	/* kept after a request: idle, it is
					   closed, not handed over */
};

static struct pend	 pend[PENDING_MAX];
static int		 npend;
static int		 pend_max;
static int		 pend_tls;
static size_t		 pend_cap;	/* a first line's bytes, at most */
static long long	 pend_idle;	/* ms, --timeout; -1: none */
static long long	 pend_total;	/* ms, --request-timeout; -1: none */

void
pending_init(const struct config *cf, int tls)
{
	struct rlimit	 rl;

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

/* Hand entry i to the script, out of the set. */
static void
pend_hand(int i, int expired, struct pending_conn *pc)
{
	pc->pc_fd = pend[i].p_fd;
	pc->pc_start = pend[i].p_start;
	pc->pc_expired = expired;
	pc->pc_buf = pend[i].p_buf;
	pc->pc_len = pend[i].p_len;
	pend[i] = pend[--npend];
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
	if (!pend_read(p))
		return 0;
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
	if (!pend_read(p))
		return 0;
	pend_hand(npend - 1, 0, pc);
	return 1;
}

/* The held connections to poll for reading, in the set's order. */
int
pending_pollfds(struct pollfd *pfd)
{
	int	 i;

	for (i = 0; i < npend; i++) {
		pfd[i].fd = pend[i].p_fd;
		pfd[i].events = POLLIN;
		pfd[i].revents = 0;
	}
	return npend;
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

/* How long a poll may wait before a held connection's wait is over. */
int
pending_waitms(void)
{
	struct timespec	 now;
	long long	 ms = -1, left;
	int		 i;

	clock_now(&now);
	for (i = 0; i < npend; i++) {
		left = pend_left(&pend[i], &now);
		if (left >= 0 && (ms == -1 || left < ms))
			ms = left;
	}
	return ms > 86400000 ? 86400000 : (int)ms;
}

/*
 * After a poll over pending_pollfds()'s n entries: 1 and pc filled for a
 * connection the script should run now (it sent its line, or its wait is
 * over), else 0.
 */
int
pending_take(const struct pollfd *pfd, int n, struct pending_conn *pc)
{
	struct timespec	 now;
	int		 i;

	for (i = 0; i < n && i < npend; i++) {
		if (pfd[i].revents == 0 || !pend_read(&pend[i]))
			continue;
		pend_hand(i, 0, pc);
		return 1;
	}
	clock_now(&now);
	for (i = 0; i < npend; i++) {
		if (pend_left(&pend[i], &now) != 0)
			continue;
		if (pend[i].p_parked && pend[i].p_len == 0) {
			/* A kept connection idle for --timeout: closed. */
			(void)close(pend[i].p_fd);
			free(pend[i].p_buf);
			pend[i--] = pend[--npend];
			continue;
		}
		pend_hand(i, 1, pc);
		return 1;
	}
	return 0;
}

/* A handler leaving closes the connections that have said nothing yet. */
void
pending_dropidle(void)
{
	int	 i = 0;

	while (i < npend) {
		if (pend[i].p_len > 0) {
			i++;
			continue;
		}
		(void)close(pend[i].p_fd);
		free(pend[i].p_buf);
		pend[i] = pend[--npend];
	}
}

void
pending_free(struct pending_conn *pc)
{
	free(pc->pc_buf);
	pc->pc_buf = NULL;
	pc->pc_len = 0;
}
