/*
 * /metrics, in Prometheus text format 0.0.4, and the sums the other
 * pages (server/status_board.c) show too.  slua(1), The status listener,
 * lists every metric; keep it in step.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"
#include "status.h"
#include "supervisor.h"

const char *const status_states[3] = { "starting", "idle", "busy" };

double
status_age(int64_t since, int64_t now)
{
	return since <= 0 || now < since ? 0 : (double)(now - since) / 1e9;
}

long long
status_rss(pid_t pid)
{
	char		 path[64];
	FILE		*f;
	long long	 size, rss;

	(void)snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	if (fscanf(f, "%lld %lld", &size, &rss) != 2)
		rss = -1;
	(void)fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

/* The accept queues of the service's listeners: clients no handler took. */
static long long
status_listenq(struct supervisor *s)
{
	struct tcp_info	 ti;
	socklen_t	 len;
	long long	 n = 0;
	int		 i;

	for (i = 0; i < s->s_listen.l_n; i++) {
		len = sizeof(ti);
		if (getsockopt(s->s_listen.l_fds[i], IPPROTO_TCP, TCP_INFO,
		    &ti, &len) == 0)
			n += ti.tcpi_unacked;
	}
	return n;
}

/*
 * The shared queue as a broker saw it: every broker sees the same Redis,
 * so its figures are not added up; the serving generation's go first.
 */
static void
status_queue(struct status_sum *u, const struct stats_broker *b, int serving)
{
	if (b->b_qlength < 0 || (u->u_qlength >= 0 && !serving))
		return;
	u->u_qdepth = b->b_qdepth;
	u->u_qlength = b->b_qlength;
	u->u_qpending = b->b_qpending;
	u->u_qdead = b->b_qdead;
}

void
status_sum(struct status *st, struct supervisor *s, struct status_sum *u)
{
	const struct stats_msg	*m;
	const struct stats_broker *b;
	struct gen		*g;
	int64_t			 now = stats_clock(), oldest = 0;
	uint32_t		 i;
	int			 k;

	memset(u, 0, sizeof(*u));
	u->u_qdepth = u->u_qlength = u->u_qpending = u->u_qdead = -1;
	status_totals(st, &u->u_h, &u->u_b);
	TAILQ_FOREACH(g, &s->s_gens, g_entry) {
		for (k = 0; k < g->g_nslots; k++) {
			if (g->g_slots[k].sl_pid == 0)
				continue;
			m = status_find(st, g->g_slots[k].sl_pid);
			u->u_hstate[m != NULL && m->m_role == STATS_HANDLER &&
			    m->m_u.u_handler.h_state < 3 ?
			    m->m_u.u_handler.h_state : STATS_STARTING]++;
			if (m != NULL && m->m_role == STATS_HANDLER)
				u->u_held += m->m_u.u_handler.h_held;
		}
		if (g->g_broker == 0 || (m = status_find(st, g->g_broker)) ==
		    NULL || m->m_role != STATS_BROKER)
			continue;
		b = &m->m_u.u_broker;
		status_queue(u, b, g == s->s_gen);
		u->u_queued += b->b_queued;
		if (b->b_oldest != 0 && (oldest == 0 || b->b_oldest < oldest))
			oldest = b->b_oldest;
		for (i = 0; i < b->b_nrows; i++)
			if (b->b_rows[i].sw_state < 3)
				u->u_wstate[b->b_rows[i].sw_state]++;
	}
	u->u_oldest = status_age(oldest, now);
	u->u_listenq = status_listenq(s);
}

static void
status_head(FILE *f, const char *name, const char *type, const char *help)
{
	(void)fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
	    type);
}

static void
status_one(FILE *f, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	status_head(f, name, type, help);
	(void)fprintf(f, "%s %llu\n", name, v);
}

static void
status_hist(FILE *f, const char *name, const char *help,
    const struct stats_hist *h)
{
	unsigned long long	 n = 0;
	int			 i;

	status_head(f, name, "histogram", help);
	for (i = 0; i < STATS_NBUCKETS; i++) {
		n += h->sh_bucket[i];
		(void)fprintf(f, "%s_bucket{le=\"%g\"} %llu\n", name,
		    stats_bounds[i], n);
	}
	(void)fprintf(f, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n"
	    "%s_count %llu\n", name, (unsigned long long)h->sh_count, name,
	    (double)h->sh_sumns / 1e9, name, (unsigned long long)h->sh_count);
}

static void
status_conns(FILE *f, const struct status_sum *u)
{
	status_one(f, "slua_connections_accepted_total", "counter",
	    "Client connections handlers accepted.", u->u_h.h_accepted);
	status_one(f, "slua_connections_closed_total", "counter",
	    "Client connections handlers closed when done with them.",
	    u->u_h.h_closed);
	status_head(f, "slua_connections_cut_total", "counter",
	    "Connections cut short, by reason.");
	(void)fprintf(f, "slua_connections_cut_total{reason=\"handler_timeout\"}"
	    " %llu\n", (unsigned long long)u->u_h.h_timedout);
	status_one(f, "slua_handler_errors_total", "counter",
	    "Connections whose handler script raised an error.",
	    u->u_h.h_errors);
	status_one(f, "slua_tls_handshake_failures_total", "counter",
	    "TLS handshakes that failed or timed out.", u->u_h.h_tlsfail);
	status_hist(f, "slua_connection_duration_seconds",
	    "Time from accept to close of a connection, in seconds.",
	    &u->u_h.h_time);
}

static void
status_jobs(FILE *f, const struct status_sum *u)
{
	static const char *const why[STATS_JF_N] = {
		"timeout", "worker_died", "worker_error", "cannot_start",
		"forward_limit", "broker_died", "queue_unavailable",
		"dead_letter"
	};
	unsigned long long	 n;
	int			 i;

	status_one(f, "slua_jobs_submitted_total", "counter",
	    "Jobs handlers submitted to the broker.", u->u_b.b_submitted);
	status_one(f, "slua_jobs_answered_total", "counter",
	    "Jobs a worker answered.", u->u_b.b_answered);
	status_head(f, "slua_jobs_failed_total", "counter",
	    "Jobs that ended in an error, by reason.");
	for (i = 0; i < STATS_JF_N; i++) {
		n = u->u_b.b_failed[i];
		if (i == STATS_JF_BROKERDIED)
			n += u->u_h.h_brokerdied;
		(void)fprintf(f, "slua_jobs_failed_total{reason=\"%s\"} %llu\n",
		    why[i], n);
	}
	status_one(f, "slua_jobs_retried_total", "counter",
	    "Jobs run again after their worker died running them.",
	    u->u_b.b_retried);
	status_hist(f, "slua_job_duration_seconds",
	    "Time a worker took to end a job, in seconds.", &u->u_b.b_time);
	status_one(f, "slua_jobs_queued", "gauge",
	    "Jobs waiting for a worker.", u->u_queued);
	status_head(f, "slua_job_oldest_queued_seconds", "gauge",
	    "Age of the oldest job waiting for a worker; 0 when none.");
	(void)fprintf(f, "slua_job_oldest_queued_seconds %.3f\n", u->u_oldest);
}

/* Only with --queue, and only what Redis said. */
static void
status_shared(FILE *f, const struct status_sum *u)
{
	if (u->u_qdepth >= 0)
		status_one(f, "slua_queue_depth", "gauge",
		    "Jobs in the shared queue no host has taken yet.",
		    u->u_qdepth);
	if (u->u_qlength >= 0)
		status_one(f, "slua_queue_length", "gauge",
		    "Entries in the shared queue's stream: the jobs waiting, "
		    "and those taken since the oldest unanswered one.",
		    u->u_qlength);
	if (u->u_qpending >= 0)
		status_one(f, "slua_queue_pending", "gauge",
		    "Jobs hosts took from the shared queue and have not "
		    "answered yet.", u->u_qpending);
	if (u->u_qdead >= 0)
		status_one(f, "slua_queue_dead_letters", "gauge",
		    "Entries in the shared queue's dead-letter stream.",
		    u->u_qdead);
}

static void
status_procs(FILE *f, struct status *st, const struct status_sum *u)
{
	static const char *const roles[] = { "handler", "broker", "worker" };
	unsigned long long	 restarts[3], crashes[3];
	int			 i;

	restarts[0] = st->st_restarts[STATUS_RHANDLER];
	restarts[1] = st->st_restarts[STATUS_RBROKER];
	restarts[2] = u->u_b.b_restarts;
	crashes[0] = st->st_crashes[STATUS_RHANDLER];
	crashes[1] = st->st_crashes[STATUS_RBROKER];
	crashes[2] = u->u_b.b_crashes;
	status_head(f, "slua_process_restarts_total", "counter",
	    "Processes that died and were started again, by role.");
	for (i = 0; i < 3; i++)
		(void)fprintf(f, "slua_process_restarts_total{role=\"%s\"} "
		    "%llu\n", roles[i], restarts[i]);
	status_head(f, "slua_process_crashes_total", "counter",
	    "Processes that died of an error or a signal of their own, "
	    "by role.");
	for (i = 0; i < 3; i++)
		(void)fprintf(f, "slua_process_crashes_total{role=\"%s\"} "
		    "%llu\n", roles[i], crashes[i]);
	status_head(f, "slua_reloads_total", "counter",
	    "Reloads (HUP), by result.");
	(void)fprintf(f, "slua_reloads_total{result=\"ok\"} %llu\n"
	    "slua_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)st->st_reloads,
	    (unsigned long long)st->st_reloadfails);
	status_head(f, "slua_handlers", "gauge",
	    "Handler processes, by state.");
	for (i = 0; i < 3; i++)
		(void)fprintf(f, "slua_handlers{state=\"%s\"} %d\n",
		    status_states[i], u->u_hstate[i]);
	status_head(f, "slua_workers", "gauge",
	    "Worker processes, by state.");
	for (i = 0; i < 3; i++)
		(void)fprintf(f, "slua_workers{state=\"%s\"} %d\n",
		    status_states[i], u->u_wstate[i]);
	status_one(f, "slua_listen_queue_length", "gauge",
	    "Clients waiting in the listen queues for a handler.",
	    u->u_listenq);
	status_one(f, "slua_connections_held", "gauge",
	    "Connections the handlers hold without running the script: "
	    "before their first line, or kept between requests.",
	    u->u_held);
}

void
status_metrics(struct status *st, struct supervisor *s, FILE *f)
{
	struct status_sum	 u;

	status_sum(st, s, &u);
	status_one(f, "slua_start_time_seconds", "gauge",
	    "When slua started, in seconds since the epoch.",
	    (unsigned long long)st->st_started);
	status_one(f, "slua_generation", "gauge",
	    "The generation that serves: 1 at start, one more each reload.",
	    s->s_gen != NULL ? s->s_gen->g_id : 0);
	status_conns(f, &u);
	status_jobs(f, &u);
	status_shared(f, &u);
	status_procs(f, st, &u);
}
