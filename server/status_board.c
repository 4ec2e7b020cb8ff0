/*
 * The scoreboard, in the manner of Apache's mod_status: /status for
 * people, /status?json for programs.  A row per process: the broker and
 * handlers of each generation the supervisor runs, and the workers each
 * broker reported.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "stats.h"
#include "status.h"
#include "supervisor.h"

struct status_row {
	pid_t		 r_pid;
	const char	*r_role;
	int		 r_gen;
	const char	*r_state;
	double		 r_for;		/* seconds in that state */
	char		 r_doing[80];
	long long	 r_served;
	long long	 r_restarts;	/* -1: not told */
	long long	 r_rss;		/* bytes; -1: unknown */
};

struct status_rows {
	struct status_row	*rs_rows;
	size_t			 rs_n;
	size_t			 rs_cap;
};

static struct status_row *
status_newrow(struct status_rows *rs, pid_t pid, const char *role, int gen)
{
	struct status_row	*r;
	size_t			 cap;

	if (rs->rs_n == rs->rs_cap) {
		cap = rs->rs_cap ? 2 * rs->rs_cap : 64;
		if ((r = reallocarray(rs->rs_rows, cap, sizeof(*r))) == NULL)
			return NULL;
		rs->rs_rows = r;
		rs->rs_cap = cap;
	}
	r = &rs->rs_rows[rs->rs_n++];
	memset(r, 0, sizeof(*r));
	r->r_pid = pid;
	r->r_role = role;
	r->r_gen = gen;
	r->r_state = "starting";
	r->r_restarts = -1;
	r->r_rss = status_rss(pid);
	return r;
}

static int
status_workers(struct status_rows *rs, const struct gen *g,
    const struct stats_broker *b, int64_t now)
{
	const struct stats_worker	*w;
	struct status_row		*r;
	uint32_t			 i;

	for (i = 0; i < b->b_nrows; i++) {
		w = &b->b_rows[i];
		if ((r = status_newrow(rs, w->sw_pid, "worker", g->g_id)) ==
		    NULL)
			return -1;
		r->r_state = status_states[w->sw_state < 3 ? w->sw_state : 0];
		r->r_for = status_age(w->sw_since, now);
		r->r_served = w->sw_ran;
		if (w->sw_state == STATS_BUSY)
			(void)strlcpy(r->r_doing, "a job", sizeof(r->r_doing));
	}
	return 0;
}

static int
status_broker(struct status *st, struct status_rows *rs, const struct gen *g,
    int64_t now)
{
	const struct stats_msg	*m = status_find(st, g->g_broker);
	const struct stats_broker *b;
	struct status_row	*r;
	int			 i;

	if ((r = status_newrow(rs, g->g_broker, "broker", g->g_id)) == NULL)
		return -1;
	r->r_restarts = g->g_brokerrestarts;
	r->r_for = status_age((int64_t)g->g_brokerstart.tv_sec * 1000000000 +
	    g->g_brokerstart.tv_nsec, now);
	if (m == NULL || m->m_role != STATS_BROKER)
		return 0;
	b = &m->m_u.u_broker;
	r->r_state = g->g_retired ? "retiring" : "serving";
	r->r_served = b->b_answered;
	for (i = 0; i < STATS_JF_N; i++)
		r->r_served += b->b_failed[i];
	(void)snprintf(r->r_doing, sizeof(r->r_doing), "%u jobs queued",
	    b->b_queued);
	return status_workers(rs, g, b, now);
}

static int
status_handlers(struct status *st, struct status_rows *rs,
    const struct gen *g, int64_t now)
{
	const struct stats_msg	*m;
	const struct stats_handler *h;
	const struct slot	*sl;
	struct status_row	*r;
	int			 i;

	for (i = 0; i < g->g_nslots; i++) {
		sl = &g->g_slots[i];
		if (sl->sl_pid == 0)
			continue;
		if ((r = status_newrow(rs, sl->sl_pid, "handler", g->g_id)) ==
		    NULL)
			return -1;
		r->r_restarts = sl->sl_restarts;
		m = status_find(st, sl->sl_pid);
		if (m == NULL || m->m_role != STATS_HANDLER)
			continue;
		h = &m->m_u.u_handler;
		r->r_state = status_states[h->h_state < 3 ? h->h_state : 0];
		r->r_for = status_age(h->h_since, now);
		r->r_served = h->h_closed;
		if (h->h_state == STATS_BUSY)
			(void)snprintf(r->r_doing, sizeof(r->r_doing),
			    "client %.*s", (int)sizeof(h->h_peer), h->h_peer);
	}
	return 0;
}

static int
status_rows(struct status *st, struct supervisor *s, struct status_rows *rs)
{
	struct gen	*g;
	int64_t		 now = stats_clock();

	memset(rs, 0, sizeof(*rs));
	TAILQ_FOREACH(g, &s->s_gens, g_entry) {
		if (g->g_broker != 0 && status_broker(st, rs, g, now) == -1)
			return -1;
		if (status_handlers(st, rs, g, now) == -1)
			return -1;
	}
	return 0;
}

/* With --queue, once Redis said: the shared queue. */
static void
status_tqueue(const struct status_sum *u, FILE *f)
{
	char	 depth[24] = "?";

	if (u->u_qlength < 0)
		return;
	if (u->u_qdepth >= 0)
		(void)snprintf(depth, sizeof(depth), "%lld", u->u_qdepth);
	(void)fprintf(f, "Shared queue: %s waiting, %lld pending, "
	    "%lld dead letters; %lld entries in the stream\n", depth,
	    u->u_qpending, u->u_qdead, u->u_qlength);
}

void
status_text(struct status *st, struct supervisor *s, FILE *f)
{
	struct status_sum	 u;
	struct status_rows	 rs;
	struct status_row	*r;
	struct tm		 tm;
	char			 when[64], rss[32];
	size_t			 i;

	status_sum(st, s, &u);
	(void)strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC",
	    gmtime_r(&st->st_started, &tm));
	(void)fprintf(f, "slua status\n\n"
	    "Uptime: %.0f s, since %s\n"
	    "Generation: %d (reloads: %llu, failed: %llu)\n"
	    "Connections: %llu accepted, %llu closed, %llu timed out, "
	    "%llu TLS failures\n"
	    "Jobs: %llu submitted, %llu answered, %lld queued, "
	    "oldest %.3f s\n"
	    "Handlers: %d busy, %d idle, %d starting, %lld connections held; "
	    "workers: %d busy, %d idle, %d starting\n",
	    status_age(st->st_startns, stats_clock()), when,
	    s->s_gen != NULL ? s->s_gen->g_id : 0,
	    (unsigned long long)st->st_reloads,
	    (unsigned long long)st->st_reloadfails,
	    (unsigned long long)u.u_h.h_accepted,
	    (unsigned long long)u.u_h.h_closed,
	    (unsigned long long)u.u_h.h_timedout,
	    (unsigned long long)u.u_h.h_tlsfail,
	    (unsigned long long)u.u_b.b_submitted,
	    (unsigned long long)u.u_b.b_answered, u.u_queued, u.u_oldest,
	    u.u_hstate[STATS_BUSY], u.u_hstate[STATS_IDLE],
	    u.u_hstate[STATS_STARTING], u.u_held, u.u_wstate[STATS_BUSY],
	    u.u_wstate[STATS_IDLE], u.u_wstate[STATS_STARTING]);
	status_tqueue(&u, f);
	(void)fprintf(f, "\n%-8s %-8s %4s %-9s %10s %9s %8s %9s  %s\n", "PID",
	    "ROLE", "GEN", "STATE", "FOR", "SERVED", "RESTARTS", "RSS",
	    "DOING");
	if (status_rows(st, s, &rs) == -1)
		(void)fprintf(f, "(out of memory)\n");
	for (i = 0; i < rs.rs_n; i++) {
		r = &rs.rs_rows[i];
		if (r->r_rss >= 0)
			(void)snprintf(rss, sizeof(rss), "%lldK",
			    r->r_rss / 1024);
		else
			(void)strlcpy(rss, "-", sizeof(rss));
		(void)fprintf(f, "%-8d %-8s %4d %-9s %9.3fs %9lld ",
		    (int)r->r_pid, r->r_role, r->r_gen, r->r_state, r->r_for,
		    r->r_served);
		if (r->r_restarts >= 0)
			(void)fprintf(f, "%8lld", r->r_restarts);
		else
			(void)fprintf(f, "%8s", "-");
		(void)fprintf(f, " %9s  %s\n", rss,
		    r->r_doing[0] != '\0' ? r->r_doing : "-");
	}
	free(rs.rs_rows);
}

static void
status_jint(json_object *o, const char *k, long long v)
{
	json_object_object_add(o, k, json_object_new_int64(v));
}

static json_object *
status_jrow(const struct status_row *r)
{
	json_object	*o = json_object_new_object();

	status_jint(o, "pid", r->r_pid);
	json_object_object_add(o, "role", json_object_new_string(r->r_role));
	status_jint(o, "generation", r->r_gen);
	json_object_object_add(o, "state", json_object_new_string(r->r_state));
	json_object_object_add(o, "seconds",
	    json_object_new_double(r->r_for));
	json_object_object_add(o, "doing", r->r_doing[0] != '\0' ?
	    json_object_new_string(r->r_doing) : NULL);
	status_jint(o, "served", r->r_served);
	json_object_object_add(o, "restarts", r->r_restarts >= 0 ?
	    json_object_new_int64(r->r_restarts) : NULL);
	json_object_object_add(o, "rss_bytes", r->r_rss >= 0 ?
	    json_object_new_int64(r->r_rss) : NULL);
	return o;
}

static json_object *
status_jtotals(struct status *st, const struct status_sum *u)
{
	json_object	*o = json_object_new_object();

	status_jint(o, "connections_accepted", u->u_h.h_accepted);
	status_jint(o, "connections_closed", u->u_h.h_closed);
	status_jint(o, "connections_timed_out", u->u_h.h_timedout);
	status_jint(o, "tls_handshake_failures", u->u_h.h_tlsfail);
	status_jint(o, "jobs_submitted", u->u_b.b_submitted);
	status_jint(o, "jobs_answered", u->u_b.b_answered);
	status_jint(o, "jobs_retried", u->u_b.b_retried);
	status_jint(o, "jobs_queued", u->u_queued);
	json_object_object_add(o, "oldest_queued_seconds",
	    json_object_new_double(u->u_oldest));
	status_jint(o, "handlers_busy", u->u_hstate[STATS_BUSY]);
	status_jint(o, "handlers_idle", u->u_hstate[STATS_IDLE]);
	status_jint(o, "connections_held", u->u_held);
	status_jint(o, "workers_busy", u->u_wstate[STATS_BUSY]);
	status_jint(o, "workers_idle", u->u_wstate[STATS_IDLE]);
	if (u->u_qdepth >= 0)
		status_jint(o, "queue_depth", u->u_qdepth);
	if (u->u_qlength >= 0) {
		status_jint(o, "queue_length", u->u_qlength);
		status_jint(o, "queue_pending", u->u_qpending);
		status_jint(o, "queue_dead_letters", u->u_qdead);
	}
	status_jint(o, "reloads", st->st_reloads);
	status_jint(o, "reloads_failed", st->st_reloadfails);
	return o;
}

/* -1 when it cannot be made. */
int
status_json(struct status *st, struct supervisor *s, FILE *f)
{
	struct status_sum	 u;
	struct status_rows	 rs;
	json_object		*top, *procs;
	size_t			 i;

	status_sum(st, s, &u);
	if (status_rows(st, s, &rs) == -1) {
		free(rs.rs_rows);
		return -1;
	}
	top = json_object_new_object();
	status_jint(top, "start_time", st->st_started);
	json_object_object_add(top, "uptime_seconds", json_object_new_double(
	    status_age(st->st_startns, stats_clock())));
	status_jint(top, "generation", s->s_gen != NULL ? s->s_gen->g_id : 0);
	json_object_object_add(top, "totals", status_jtotals(st, &u));
	procs = json_object_new_array();
	for (i = 0; i < rs.rs_n; i++)
		json_object_array_add(procs, status_jrow(&rs.rs_rows[i]));
	json_object_object_add(top, "processes", procs);
	(void)fprintf(f, "%s\n", json_object_to_json_string_ext(top,
	    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED));
	json_object_put(top);
	free(rs.rs_rows);
	return 0;
}
