/*
 * The broker process.  It owns the job queue: it takes jobs from the
 * handler slots, hands each to an idle worker in arrival order, and routes
 * each answer back to the handler that submitted the job.  It never blocks:
 * every socket is non-blocking and output waits in per-peer queues.
 *
 * A slot is not read while max-jobs jobs are queued; the handler then
 * blocks in work.submit() (still taking in its answers) until the queue
 * drains.  Workers are always read, so answers always flow.
 *
 * How a job lives is told at the top of worker/job.c, which owns it; how
 * jobs go to workers and answers come back, in worker/dispatch.c.
 */
#include <sys/signalfd.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "ipc.h"
#include "log.h"
#include "queue.h"
#include "slualib.h"
#include "stats.h"
#include "util.h"

static void	broker_main(struct broker *) __attribute__((noreturn));

/*
 * Fork the broker; fds are the broker's ends of the handler slots.  When
 * readyfd is not -1, the broker writes there "ready" once a worker has
 * reached work.accept(), or why workers cannot start, and closes it: a
 * reload waits for that (server/gen.c).  Returns its pid in the parent.
 */
pid_t
broker_start(struct config *cf, const struct script *sc, int *fds, int nfds,
    int readyfd)
{
	struct broker	 b;
	pid_t		 parent = getpid(), pid;
	int		 i, n, *keep, sv[2];

	if ((pid = fork()) != 0)
		return pid;

	proc_child("broker", parent);
	/* A daemon's broker and its workers log to syslog from the start:
	   why workers cannot start reaches the parent waiting for the start
	   through readyfd (server/daemon.c). */
	if (proc_isdetached())
		proc_syslog();
	if (fd_devnull(STDIN_FILENO) == -1)
		fatal("/dev/null");
	memset(&b, 0, sizeof(b));
	if ((keep = reallocarray(NULL, nfds + 2, sizeof(*keep))) == NULL)
		fatal("broker");
	if (nfds > 0)		/* a worker-only host has none */
		memcpy(keep, fds, nfds * sizeof(*keep));
	n = nfds;
	if (readyfd != -1)
		keep[n++] = readyfd;
	if (stats_fd != -1)
		keep[n++] = stats_fd;
	fd_keep(keep, n);
	free(keep);
	b.b_readyfd = readyfd;
	b.b_cf = cf;
	b.b_script = sc;
	b.b_nslots = nfds;
	/* A worker-only host has no handler slots. */
	if ((b.b_slots = calloc(nfds + 1, sizeof(*b.b_slots))) == NULL)
		fatal("broker");
	for (i = 0; i < nfds; i++) {
		b.b_slots[i].p_fd = fds[i];
		if (ipc_in_init(&b.b_slots[i].p_in, fds[i],
		    cf->cf_max_job_size) == -1)
			fatal("broker");
		ipc_out_init(&b.b_slots[i].p_out, fds[i]);
	}
	TAILQ_INIT(&b.b_workers);
	TAILQ_INIT(&b.b_idle);
	TAILQ_INIT(&b.b_queue);
	TAILQ_INIT(&b.b_quarantine);
	if (ipc_batch_init(&b.b_batch) == -1)
		fatal("broker");
	if (ipc_socketpair(sv) == -1)
		fatal("socketpair");
	b.b_donefd = sv[0];
	b.b_donewr = sv[1];
	if (cf->cf_queue != NULL)
		b.b_shared = queue_open(&b);
	broker_main(&b);
}

/* Tell the supervisor, once, whether workers start. */
void
broker_tell(struct broker *b, const char *what)
{
	if (b->b_readyfd == -1)
		return;
	if (write(b->b_readyfd, what, strlen(what)) == -1)
		log_warn("to the supervisor");
	(void)close(b->b_readyfd);
	b->b_readyfd = -1;
}

/*
 * The other end of broker_tell(), for whoever started a broker with a
 * readyfd: 1 when its workers start, 0 when they cannot (why, in buf),
 * -1 when it has not said yet.  Once it has said, *fd is closed and -1.
 */
int
broker_verdict(int *fd, char *buf, size_t len)
{
	ssize_t	 n;

	if ((n = read(*fd, buf, len - 1)) == -1 &&
	    (errno == EAGAIN || errno == EINTR))
		return -1;
	(void)close(*fd);
	*fd = -1;
	if (n < 0)
		n = 0;
	buf[n] = '\0';
	if (strcmp(buf, "ready") == 0)
		return 1;
	if (n == 0)
		(void)strlcpy(buf, "its broker died", len);
	return 0;
}

/* Send j's answer or error to the handler that submitted it. */
void
broker_reply(struct broker *b, struct job *j, int type, int flags,
    const char *data, size_t len)
{
	struct ipc_msg	 m;

	m.m_data = data;
	m.m_len = len;
	m.m_fd = -1;
	broker_answer(b, j, type, flags, &m);
}

/* The same, with the payload of a message: its bytes, or its memfd. */
void
broker_answer(struct broker *b, struct job *j, int type, int flags,
    const struct ipc_msg *m)
{
	struct ipc_hdr	 h = j->j_hdr;
	struct ipc_out	*out;
	int		 r;

	if (j->j_rq != NULL) {
		queue_answer(b, j, type, flags, m);
		return;
	}
	if (h.h_slot >= (uint32_t)b->b_nslots) {
		if (m->m_fd != -1)
			(void)close(m->m_fd);
		return;
	}
	out = &b->b_slots[h.h_slot].p_out;
	h.h_type = type;
	h.h_flags = flags;
	if (m->m_fd != -1)
		r = ipc_out_addfd(out, &h, m->m_fd, m->m_len);
	else
		r = ipc_out_add(out, &h, m->m_data, m->m_len);
	if (r == -1)
		log_warn("answer to job %llu lost", (unsigned long long)h.h_id);
}

/* No more jobs from handlers until the queue has room. */
static int
broker_full(struct broker *b)
{
	if (b->b_shared != NULL)
		return queue_full(b);
	return b->b_nqueued >= b->b_cf->cf_max_jobs;
}

/* Answer a process's IPC_STATS q. */
void
broker_stats(struct broker *b, struct ipc_out *out, const struct ipc_hdr *q)
{
	struct ipc_stats	 st;
	struct ipc_hdr		 h = *q;

	st.s_backlog = b->b_nqueued;
	if (b->b_shared != NULL)
		st.s_backlog = queue_backlog(b);
	st.s_idle = b->b_nidle;
	st.s_pool = b->b_nworkers;
	h.h_type = IPC_STATS;
	h.h_flags = 0;
	if (ipc_out_add(out, &h, &st, sizeof(st)) == -1)
		log_warn("stats");
}

static void
broker_fromslot(struct broker *b, int slot, const struct ipc_msg *m)
{
	struct ipc_hdr	 h = m->m_hdr;
	struct job	*j;

	h.h_slot = slot;	/* the socket, not the sender, says who */
	switch (h.h_type) {
	case IPC_JOB:
		stats_broker.b_submitted++;
		if (b->b_shared != NULL) {
			queue_submit(b, &h, m);
			break;
		}
		if ((j = job_new(&h, m)) == NULL)
			return;
		job_enqueue(b, j, 0);
		break;
	case IPC_STATS:
		broker_stats(b, &b->b_slots[slot].p_out, &h);
		break;
	default:
		log_warnx("slot %d: unexpected message type %d", slot,
		    h.h_type);
		if (m->m_fd != -1)
			(void)close(m->m_fd);
	}
}

/*
 * A handler batches at most IPC_JOBBATCH jobs a datagram, so reading no
 * more datagrams than the queue has room for batches keeps the queue
 * close to max-jobs.
 */
static void
broker_readslot(struct broker *b, int slot)
{
	struct peer	*p = &b->b_slots[slot];
	struct ipc_msg	 m;
	int		 i, n, room;

	room = (b->b_cf->cf_max_jobs - b->b_nqueued) / IPC_JOBBATCH;
	if (b->b_shared != NULL)
		room -= b->b_shared->q_unacked / IPC_JOBBATCH;
	if ((n = ipc_batch_read(&b->b_batch, p->p_fd, room)) <= 0)
		return;
	for (i = 0; i < n; i++) {
		ipc_in_feed(&p->p_in, &b->b_batch, i);
		while (ipc_in_next(&p->p_in, &m))
			broker_fromslot(b, slot, &m);
	}
}

static void
broker_flush(struct broker *b)
{
	struct bworker	*w;
	int		 i;

	for (i = 0; i < b->b_nslots; i++)
		if (ipc_out_flush(&b->b_slots[i].p_out) == -1)
			ipc_out_clear(&b->b_slots[i].p_out); /* handler gone */
	TAILQ_FOREACH(w, &b->b_workers, w_entry)
		(void)ipc_out_flush(&w->w_peer.p_out);	/* death: reap */
}

static void
broker_status(struct broker *b)
{
	struct bworker	*w;
	int		 running = 0;

	TAILQ_FOREACH(w, &b->b_workers, w_entry) {
		running += w->w_njobs;
		(void)kill(w->w_pid, SIGUSR1);	/* each says its own */
	}
	log_info("jobs: %d queued, %d at workers, %llu done; workers: %d, "
	    "%d idle%s", b->b_nqueued, running, b->b_done, b->b_nworkers,
	    b->b_nidle, b->b_broken ? ", cannot start" : "");
}

static void
broker_signals(struct broker *b)
{
	struct signalfd_siginfo	 si;
	ssize_t			 n;

	while ((n = read(b->b_sigfd, &si, sizeof(si))) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			pool_reap(b);
			break;
		case SIGTERM:
		case SIGINT:
			if (!b->b_stopping) {
				b->b_stopping = 1;
				clock_now(&b->b_deadline);
				clock_add(&b->b_deadline,
				    b->b_cf->cf_grace * 1000LL);
			}
			break;
		case SIGUSR1:
			broker_status(b);
			break;
		}
	}
}

/* Stopping: done when no job is left, or no worker to run it, or late. */
static int
broker_done(struct broker *b)
{
	struct timespec	 now;

	/* Jobs owed to the shared queue keep it to the deadline. */
	if (b->b_shared == NULL || queue_busy(b) == 0) {
		if (b->b_nqueued == 0 && b->b_nidle == b->b_nworkers)
			return 1;
		if (b->b_nworkers == 0)
			return 1;
	}
	clock_now(&now);
	return clock_ms(&now, &b->b_deadline) <= 0;
}

static int
broker_timeout(struct broker *b)
{
	struct timespec	 now;
	long long	 ms = -1, t;

	if (b->b_stopping) {
		clock_now(&now);
		if ((ms = clock_ms(&now, &b->b_deadline)) < 0)
			ms = 0;
		if (ms > 1000)
			ms = 1000;
	}
	if ((t = pool_spawndelay(b)) != -1 && (ms == -1 || t < ms))
		ms = t;
	if ((t = job_nextkill(b)) != -1 && (ms == -1 || t < ms))
		ms = t;
	if ((t = bstats_wait()) != -1 && (ms == -1 || t < ms))
		ms = t;
	if (b->b_shared != NULL && (t = queue_timeout(b)) != -1 &&
	    (ms == -1 || t < ms))
		ms = t;
	return (int)ms;
}

static void
broker_poll(struct broker *b)
{
	static struct pollfd	*pfd;
	static struct bworker	**who;
	static size_t		 cap;
	struct bworker		*w;
	size_t			 n, i, need, nq, di;
	long long		 lazy;
	int			 s, ms, want = broker_wantdone(b, &lazy);

	need = 2 + b->b_nslots + b->b_nworkers + QUEUE_NCONN;
	if (need > cap) {
		free(pfd);
		free(who);
		pfd = reallocarray(NULL, need, sizeof(*pfd));
		who = reallocarray(NULL, need, sizeof(*who));
		if (pfd == NULL || who == NULL)
			fatal("broker");
		cap = need;
	}
	pfd[0].fd = b->b_sigfd;
	pfd[0].events = POLLIN;
	n = 1;
	for (s = 0; s < b->b_nslots; s++, n++) {
		pfd[n].fd = b->b_slots[s].p_fd;
		pfd[n].events = 0;
		if (!broker_full(b))
			pfd[n].events |= POLLIN;
		if (b->b_slots[s].p_out.o_count > 0)
			pfd[n].events |= POLLOUT;
	}
	TAILQ_FOREACH(w, &b->b_workers, w_entry) {
		pfd[n].fd = w->w_peer.p_fd;
		pfd[n].events = POLLIN;
		if (w->w_peer.p_out.o_count > 0)
			pfd[n].events |= POLLOUT;
		who[n++] = w;
	}
	di = n++;
	pfd[di].fd = want ? b->b_donefd : -1;
	pfd[di].events = POLLIN;
	nq = n;
	if (b->b_shared != NULL)
		n += queue_pollfds(b->b_shared, pfd + n);

	ms = broker_timeout(b);
	if (lazy != -1 && (ms == -1 || lazy < ms))
		ms = (int)lazy;
	if (poll(pfd, n, ms) == -1) {
		if (errno == EINTR)
			return;
		fatal("poll");
	}
	if (!want || pfd[di].revents != 0)
		broker_readdone(b);
	for (i = 1; i < 1 + (size_t)b->b_nslots; i++)
		if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			broker_readslot(b, i - 1);
	for (; i < di; i++)
		if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP))
			broker_readworker(b, who[i], 0);
	if (b->b_shared != NULL)
		queue_events(b->b_shared, pfd + nq, n - nq);
	/* Last: reaping frees workers that who[] points at. */
	if (pfd[0].revents & POLLIN)
		broker_signals(b);
}

static void
broker_main(struct broker *b)
{
	b->b_sigfd = proc_signalfd();
	bstats_init(stats_fd);

	for (;;) {
		pool_fill(b);
		job_expire(b);
		if (b->b_broken)
			job_failall(b);
		if (b->b_shared != NULL)
			queue_tick(b);
		broker_dispatch(b);
		broker_flush(b);
		bstats_push(b);
		if (b->b_stopping && broker_done(b))
			break;
		broker_poll(b);
	}
	pool_stop(b);
	_exit(0);
}
