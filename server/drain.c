/*
 * A stopping supervisor's drain, for a host behind a load balancer: from
 * the TERM on, new connections are dropped (their SYN, which the client
 * repeats a second later and then finds the port closed: refused, so the
 * balancer's health check fails and its retries go to another host),
 * while the handlers serve every connection the kernel had completed and
 * queued, which closing the listeners would reset.  Once the queue is
 * empty and the handshakes under way had DRAIN_MS to complete, or the
 * grace is over, the listeners stop (server/listen.c).
 */
#include <time.h>

#include "server.h"
#include "supervisor.h"
#include "util.h"

#define DRAIN_MS	20	/* a LAN's handshake takes well under */

/* -1 when there is nothing to drain: the listeners stop at once. */
int
drain_start(struct supervisor *s)
{
	if (listen_quiesce(&s->s_listen) == -1)
		return -1;
	s->s_draining = 1;
	clock_now(&s->s_drainat);
	return 0;
}

/* Whether the listeners may stop now. */
int
drain_done(struct supervisor *s)
{
	struct timespec	 now;

	clock_now(&now);
	if (clock_ms(&now, &s->s_deadline) <= 0)
		return 1;
	return clock_ms(&s->s_drainat, &now) >= DRAIN_MS &&
	    listen_queued(&s->s_listen) == 0;
}
