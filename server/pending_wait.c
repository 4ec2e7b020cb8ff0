/*
 * How long a held connection (server/pending.c) waits for its line: in
 * the listen queue first, until it has sent something (TCP_DEFER_ACCEPT),
 * then in the held set, as the script's first read would, --timeout after
 * its last byte and --request-timeout after it was accepted; a kept
 * connection idle for --timeout is closed.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include "config.h"
#include "log.h"
#include "pending.h"
#include "pendingint.h"
#include "util.h"

static int		 pend_hasdue;
static struct timespec	 pend_due;	/* a wait may be over: look */
static long long	 pend_idle;	/* ms, --timeout; -1: none */
static long long	 pend_total;	/* ms, --request-timeout; -1: none */

void
pend_waitinit(const struct config *cf)
{
	pend_idle = cf->cf_timeout > 0 ? cf->cf_timeout * 1000LL : -1;
	pend_total = cf->cf_request_timeout > 0 ?
	    cf->cf_request_timeout * 1000LL : -1;
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

/* ms after from, as a time. */
static struct timespec
pend_after(const struct timespec *from, long long ms)
{
	struct timespec	 t = *from;

	t.tv_sec += ms / 1000;
	t.tv_nsec += (ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Entry p is held: look at its wait when it may be over. */
void
pend_schedule(const struct pend *p)
{
	struct timespec	 due;
	long long	 ms;

	if ((ms = pend_left(p, &p->p_last)) < 0)
		return;
	due = pend_after(&p->p_last, ms);
	if (!pend_hasdue || clock_ms(&due, &pend_due) > 0)
		pend_due = due;
	pend_hasdue = 1;
}

/* How long a poll may wait before the held connections' waits are due. */
int
pending_waitms(void)
{
	struct timespec	 now;
	long long	 ms;

	if (pending_queued())
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
int
pend_expire(struct pending_conn *pc)
{
	struct pend	*p, *np;
	struct timespec	 now;
	long long	 left, min = -1;

	if (!pend_hasdue)
		return 0;
	clock_now(&now);
	if (clock_ms(&now, &pend_due) > 0)
		return 0;
	TAILQ_FOREACH_SAFE(p, &pend_held, p_entry, np) {
		if ((left = pend_left(p, &now)) != 0) {
			if (left > 0 && (min == -1 || left < min))
				min = left;
			continue;
		}
		if (p->p_parked && p->p_len == 0) {
			/* A kept connection idle for --timeout: closed. */
			pend_close(p);
			continue;
		}
		pend_hand(p, 1, pc);
		return 1;	/* pend_due stays: look again at once */
	}
	pend_hasdue = min != -1;
	pend_due = pend_after(&now, min);
	return 0;
}
