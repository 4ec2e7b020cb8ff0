/*
 * The supervisor's side of status reports (common/stats.h): the last
 * report of each child that reports, and the totals of those that are
 * gone, so that a counter never goes back when a process dies.  What the
 * supervisor itself sees (restarts, crashes, reloads) is counted here too.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "stats.h"
#include "status.h"

static struct status_proc *
status_proc(struct status *st, pid_t pid)
{
	struct status_proc	*sp;

	TAILQ_FOREACH(sp, &st->st_procs, sp_entry)
		if (sp->sp_pid == pid)
			return sp;
	return NULL;
}

const struct stats_msg *
status_find(struct status *st, pid_t pid)
{
	struct status_proc	*sp = status_proc(st, pid);

	return sp != NULL ? sp->sp_msg : NULL;
}

/* The size a report of this role must have; 0: none. */
static size_t
status_size(const struct stats_msg *m, size_t len)
{
	size_t	 rows = offsetof(struct stats_msg, m_u.u_broker.b_rows);

	if (len < offsetof(struct stats_msg, m_u))
		return 0;
	switch (m->m_role) {
	case STATS_HANDLER:
		return offsetof(struct stats_msg, m_u) +
		    sizeof(struct stats_handler);
	case STATS_BROKER:
		if (len < rows || m->m_u.u_broker.b_nrows > STATS_MAXWORKERS)
			return 0;
		return rows + m->m_u.u_broker.b_nrows *
		    sizeof(struct stats_worker);
	}
	return 0;
}

static void
status_keep(struct status *st, const struct stats_msg *m, size_t len)
{
	struct status_proc	*sp;
	struct stats_msg	*copy;

	/* Only as long as the report: a broker's rows are few, mostly. */
	if ((copy = malloc(len)) == NULL) {
		log_warn("status");
		return;
	}
	memcpy(copy, m, len);
	if ((sp = status_proc(st, m->m_pid)) == NULL) {
		if ((sp = calloc(1, sizeof(*sp))) == NULL) {
			log_warn("status");
			free(copy);
			return;
		}
		sp->sp_pid = m->m_pid;
		TAILQ_INSERT_TAIL(&st->st_procs, sp, sp_entry);
	}
	free(sp->sp_msg);
	sp->sp_msg = copy;
}

/*
 * Read every report waiting.  The sender is told by the kernel, not by
 * the report: a child cannot speak for another.
 */
void
status_reports(struct status *st)
{
	static struct stats_msg	 m;
	struct ucred		 cred;
	struct msghdr		 msg;
	struct iovec		 iov;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(struct ucred))];
	}			 cm;
	struct cmsghdr		*c;
	ssize_t			 n;

	if (st == NULL)
		return;
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = &m;
		iov.iov_len = sizeof(m);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		if ((n = recvmsg(st->st_rfd, &msg, MSG_DONTWAIT)) == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("status reports");
			return;
		}
		c = CMSG_FIRSTHDR(&msg);
		if (c == NULL || c->cmsg_type != SCM_CREDENTIALS ||
		    (msg.msg_flags & MSG_TRUNC))
			continue;
		memcpy(&cred, CMSG_DATA(c), sizeof(cred));
		if (status_size(&m, n) != (size_t)n || m.m_pid != cred.pid)
			continue;
		status_keep(st, &m, n);
	}
}

static void
status_addhandler(struct stats_handler *to, const struct stats_handler *h)
{
	to->h_accepted += h->h_accepted;
	to->h_closed += h->h_closed;
	to->h_tlsfail += h->h_tlsfail;
	to->h_timedout += h->h_timedout;
	to->h_errors += h->h_errors;
	to->h_brokerdied += h->h_brokerdied;
	stats_merge(&to->h_time, &h->h_time);
}

static void
status_addbroker(struct stats_broker *to, const struct stats_broker *b)
{
	int	 i;

	to->b_submitted += b->b_submitted;
	to->b_answered += b->b_answered;
	for (i = 0; i < STATS_JF_N; i++)
		to->b_failed[i] += b->b_failed[i];
	to->b_retried += b->b_retried;
	to->b_restarts += b->b_restarts;
	to->b_crashes += b->b_crashes;
	stats_merge(&to->b_time, &b->b_time);
}

/* A child died: what it counted stays in the totals. */
void
status_gone(struct status *st, pid_t pid)
{
	struct status_proc	*sp;

	if (st == NULL || (sp = status_proc(st, pid)) == NULL)
		return;
	if (sp->sp_msg->m_role == STATS_HANDLER)
		status_addhandler(&st->st_hgone, &sp->sp_msg->m_u.u_handler);
	else
		status_addbroker(&st->st_bgone, &sp->sp_msg->m_u.u_broker);
	TAILQ_REMOVE(&st->st_procs, sp, sp_entry);
	free(sp->sp_msg);
	free(sp);
}

/* Every process's counters, the gone and the living. */
void
status_totals(struct status *st, struct stats_handler *h,
    struct stats_broker *b)
{
	struct status_proc	*sp;

	memset(h, 0, sizeof(*h));
	memset(b, 0, offsetof(struct stats_broker, b_rows));
	status_addhandler(h, &st->st_hgone);
	status_addbroker(b, &st->st_bgone);
	TAILQ_FOREACH(sp, &st->st_procs, sp_entry) {
		if (sp->sp_msg->m_role == STATS_HANDLER)
			status_addhandler(h, &sp->sp_msg->m_u.u_handler);
		else
			status_addbroker(b, &sp->sp_msg->m_u.u_broker);
	}
}

/* The supervisor replaces a child of role; crashed: it failed. */
void
status_died(struct status *st, int role, int crashed)
{
	if (st == NULL)
		return;
	st->st_restarts[role]++;
	if (crashed)
		st->st_crashes[role]++;
}

void
status_reloaded(struct status *st, int ok)
{
	if (st == NULL)
		return;
	if (ok)
		st->st_reloads++;
	else
		st->st_reloadfails++;
}
