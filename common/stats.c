/*
 * The sending side of status reports (common/stats.h): the pace of a
 * process's reports, histograms, and a handler's own figures.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "util.h"

/* Seconds; the same for connection and job times. */
const double stats_bounds[STATS_NBUCKETS] = {
	0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60
};
static const long long	 stats_boundns[STATS_NBUCKETS] = {
	100000LL, 500000LL, 1000000LL, 5000000LL, 10000000LL, 50000000LL,
	100000000LL, 500000000LL, 1000000000LL, 5000000000LL, 10000000000LL,
	60000000000LL
};

int			 stats_fd = -1;
struct stats_handler	 stats_handler;
static struct stats_pace hpace = { .p_fd = -1 };

int64_t
stats_clock(void)
{
	struct timespec	 ts;

	clock_now(&ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void
stats_observe(struct stats_hist *h, long long ns)
{
	int	 i;

	if (ns < 0)
		ns = 0;
	h->sh_count++;
	h->sh_sumns += ns;
	for (i = 0; i < STATS_NBUCKETS; i++)
		if (ns <= stats_boundns[i]) {
			h->sh_bucket[i]++;
			return;
		}
}

void
stats_merge(struct stats_hist *to, const struct stats_hist *from)
{
	int	 i;

	to->sh_count += from->sh_count;
	to->sh_sumns += from->sh_sumns;
	for (i = 0; i < STATS_NBUCKETS; i++)
		to->sh_bucket[i] += from->sh_bucket[i];
}

/* Milliseconds until the next report is due: 0 now, -1 none pending. */
int
stats_wait(struct stats_pace *p)
{
	struct timespec	 now;
	long long	 ms;

	if (p->p_fd == -1 || !p->p_pending)
		return -1;
	clock_now(&now);
	ms = STATS_PUSH_MS - clock_ms(&p->p_last, &now);
	return ms < 0 ? 0 : (int)ms;
}

int
stats_due(struct stats_pace *p)
{
	return stats_wait(p) == 0;
}

/*
 * Never blocks: a report the socket cannot take now stays pending, and
 * the next one carries the same totals and more.
 */
void
stats_send(struct stats_pace *p, const struct stats_msg *m, size_t len)
{
	if (p->p_fd == -1)
		return;
	clock_now(&p->p_last);
	if (send(p->p_fd, m, len, MSG_DONTWAIT | MSG_NOSIGNAL) == -1 &&
	    (errno == EAGAIN || errno == ENOBUFS))
		return;
	p->p_pending = 0;
}

void
stats_handler_init(int fd)
{
	hpace.p_fd = fd;
	stats_handler.h_state = STATS_IDLE;
	stats_handler.h_since = stats_clock();
	stats_handler_push(1);
}

/* The handler's figures changed: report them now if due (or forced). */
void
stats_handler_push(int force)
{
	static struct stats_msg	 m;

	hpace.p_pending = 1;
	if (hpace.p_fd == -1 || (!force && !stats_due(&hpace)))
		return;
	m.m_role = STATS_HANDLER;
	m.m_pid = getpid();
	m.m_u.u_handler = stats_handler;
	stats_send(&hpace, &m, offsetof(struct stats_msg, m_u) +
	    sizeof(m.m_u.u_handler));
}

/*
 * The handler is being killed past its deadline and grace, from a signal
 * handler (server/handler.c): the cut connection is counted and its last
 * report sent, with only async-signal-safe calls.  The script it runs
 * touches none of these figures while it is stuck.
 */
void
stats_handler_killed(void)
{
	static struct stats_msg	 m;

	stats_handler.h_timedout++;
	if (hpace.p_fd == -1)
		return;
	m.m_role = STATS_HANDLER;
	m.m_pid = getpid();
	memcpy(&m.m_u.u_handler, &stats_handler, sizeof(stats_handler));
	(void)!send(hpace.p_fd, &m, offsetof(struct stats_msg, m_u) +
	    sizeof(m.m_u.u_handler), MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* For the handler's wait in accept: ms until a pending report, or -1. */
int
stats_handler_wait(void)
{
	return stats_wait(&hpace);
}

/*
 * A handler took a connection from peer.  Reports are due at most every
 * STATS_PUSH_MS, and none goes while the script runs; so that a long
 * connection is seen busy, one goes now too when the handler was idle
 * longer than that, which costs nothing under load, when connections
 * follow each other.
 */
void
stats_conn_begin(const char *peer)
{
	int64_t	 now = stats_clock();
	int	 waited;

	waited = now - stats_handler.h_since >= STATS_PUSH_MS * 1000000LL;
	stats_handler.h_accepted++;
	stats_handler.h_state = STATS_BUSY;
	stats_handler.h_since = now;
	(void)strlcpy(stats_handler.h_peer, peer,
	    sizeof(stats_handler.h_peer));
	stats_handler_push(waited);
}

/*
 * The connection's client is another than its peer: a PROXY header named
 * it.  If the report at stats_conn_begin() went with the balancer's
 * address, another goes now: none would go while the script runs.
 */
void
stats_conn_peer(const char *client)
{
	int	 sent = !hpace.p_pending;

	if (strcmp(stats_handler.h_peer, client) == 0)
		return;		/* LOCAL: a balancer's health check */
	(void)strlcpy(stats_handler.h_peer, client,
	    sizeof(stats_handler.h_peer));
	stats_handler_push(sent);
}

/* ... and closed it. */
void
stats_conn_end(void)
{
	int64_t	 now = stats_clock();

	stats_handler.h_closed++;
	stats_observe(&stats_handler.h_time, now - stats_handler.h_since);
	stats_handler.h_state = STATS_IDLE;
	stats_handler.h_since = now;
	stats_handler.h_peer[0] = '\0';
	stats_handler_push(0);
}
