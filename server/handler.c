/*
 * A handler process in tcp mode.  It waits in an epoll set of its own on
 * the listening sockets it shares with its siblings (one idle handler is
 * woken per new client), on the clients it holds until they have spoken
 * (server/pending.c) and on its broker, and runs the handler script once
 * per request.  The script is compiled once; each connection runs it
 * with globals of its own, and what it changed in the libraries is undone
 * after it (lua/isolate.c), while modules loaded with require stay loaded.
 *
 * TERM and HUP are blocked except while waiting in epoll_pwait(), so a
 * connection is never cut short: the handler exits between connections.
 */
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "handoff.h"
#include "isolate.h"
#include "log.h"
#include "pending.h"
#include "proxy.h"
#include "server.h"
#include "slualib.h"
#include "stats.h"
#include "timeout.h"
#include "util.h"
#include "work.h"

#define HANDLER_CHUNK	"slua.handler.chunk"
#define HANDLER_EMFILE_MS	100
#define HANDLER_SPARE_IDLE	5	/* seconds a spare handler waits */
#define HANDLER_QUICK	32	/* turns without a wait, at most */
#define HANDLER_GCKB	64	/* a connection's garbage stepped through
				   after it, from this many KiB */

static volatile sig_atomic_t	 handler_quit;
static int			 handler_served;
static int			 handler_busy;
static int			 handler_ep = -1;	/* what it waits on */
static int			 handler_epquiet = -1;	/* the same, no listener */

static void
handler_signal(int sig)
{
	(void)sig;
	handler_quit = 1;
}

/* USR1, busy or not (lua/timeout.c). */
static void
handler_status(void)
{
	log_info("status: %d connections served%s", handler_served,
	    handler_busy ? ", one in progress" : "");
}

static long
sock_read(void *ctx, char *buf, size_t len)
{
	return recv(*(int *)ctx, buf, len, 0);
}

static long
sock_write(void *ctx, const char *buf, size_t len)
{
	return send(*(int *)ctx, buf, len, MSG_NOSIGNAL);
}

static void
handler_signals(sigset_t *waitmask)
{
	struct sigaction	 sa;
	sigset_t		 block;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler_signal;	/* no SA_RESTART: ppoll returns */
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGHUP, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		fatal("sigaction");
	timeout_status(handler_status);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigaddset(&block, SIGINT);
	if (sigprocmask(SIG_BLOCK, &block, waitmask) == -1)
		fatal("sigprocmask");
}

/* Compile the script once and keep the chunk. */
static void
handler_prepare(lua_State *L, const struct script *sc)
{
	if (script_load(L, sc) != 0)
		fatalx("%s", lua_tostring(L, -1));
	lua_setfield(L, LUA_REGISTRYINDEX, HANDLER_CHUNK);
}

/*
 * The script loaded: this handler serves.  A daemon's handler has logged
 * to the standard error it was forked with, which while slua starts is the
 * pipe to the parent waiting for the start (server/daemon.c), so that what
 * stopped it reaches the terminal; from here on it logs to syslog.
 */
static void
handler_started(struct handler_env *he)
{
	int	 slot = he->he_slot;

	if (proc_isdetached())
		proc_syslog();
	if (he->he_startfd == -1)
		return;
	if (write(he->he_startfd, &slot, sizeof(slot)) != sizeof(slot))
		log_warn("to the supervisor");
	(void)close(he->he_startfd);
	he->he_startfd = -1;
}

/* accept(2) failed for want of resources: say so (once a second), wait. */
static void
handler_pause(void)
{
	static struct timespec	 last;
	struct timespec		 now, pause = { 0, HANDLER_EMFILE_MS * 1000000L };

	clock_now(&now);
	if (last.tv_sec == 0 || clock_ms(&last, &now) >= 1000) {
		log_warn("accept (pausing %d ms)", HANDLER_EMFILE_MS);
		last = now;
	}
	while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
		;
}

/*
 * Behind a balancer (--proxy-protocol) the header comes first, before
 * TLS and the first line: read at once (the balancer sends it with the
 * connection), the connection goes straight to the script, since the
 * balancer is the one client and holds slow clients itself.  ss is the
 * balancer's address, which the header replaces.
 */
static int
handler_proxied(const struct config *cf, int fd,
    const struct sockaddr_storage *ss, struct pending_conn *pc)
{
	memset(pc, 0, sizeof(*pc));
	pc->pc_fd = fd;
	clock_now(&pc->pc_start);
	pc->pc_ss = *ss;
	listen_name((struct sockaddr *)&pc->pc_ss, pc->pc_peer,
	    sizeof(pc->pc_peer));
	if (proxy_accept(fd, cf->cf_timeout, &pc->pc_ss, pc->pc_peer,
	    sizeof(pc->pc_peer), pc->pc_balancer,
	    sizeof(pc->pc_balancer)) == -1) {
		(void)close(fd);
		return -1;
	}
	pc->pc_proxied = 1;
	pc->pc_havepeer = 1;
	return fd;
}

/*
 * What a handler waits on, in an epoll set of its own: the listeners
 * (with listen set), each with EPOLLEXCLUSIVE, so that a new client
 * wakes one idle handler rather than every one of them, which would each
 * find the queue empty again; the connections busy handlers pass
 * (server/handoff.c), the same way; the broker's pidfd; the held
 * connections, each in the set itself while the handler listens, or
 * their own set (server/pending.c) while it does not.
 */
static int
handler_waitset(const struct listener *l, int brokerfd, int listen)
{
	struct epoll_event	 ev;
	int			 ep, i;

	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	memset(&ev, 0, sizeof(ev));
	for (i = 0; listen && i < l->l_n; i++) {
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.fd = l->l_fds[i];
		if (epoll_ctl(ep, EPOLL_CTL_ADD, l->l_fds[i], &ev) == -1)
			fatal("epoll_ctl");
	}
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.fd = handoff_fd();
	if (listen && ev.data.fd != -1 &&
	    epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) == -1)
		fatal("epoll_ctl");
	ev.events = EPOLLIN;
	ev.data.fd = brokerfd;
	if (brokerfd != -1 && epoll_ctl(ep, EPOLL_CTL_ADD, brokerfd, &ev) == -1)
		fatal("epoll_ctl");
	ev.data.fd = pending_epfd();
	if (!listen && epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) == -1)
		fatal("epoll_ctl");
	return ep;
}

/*
 * Accept on lfd: the descriptor for the script (pc filled), -1 when there
 * is none for it now (a sibling took the client, it left, or it is held
 * until it speaks), -2 when accept(2) failed for want of resources (the
 * handler paused).
 */
static int
handler_take(int lfd, const struct config *cf, struct pending_conn *pc)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	int			 fd;

	/* The address too: a client served at once needs no getpeername. */
	if ((fd = accept4(lfd, (struct sockaddr *)&ss, &sslen, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1) {
		/* Out of descriptors: pause rather than spin on accept. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			handler_pause();
			return -2;
		}
		return -1;	/* EAGAIN: a sibling took it; others: it left */
	}
	if (cf->cf_proxy_protocol)
		return handler_proxied(cf, fd, &ss, pc);
	if (cf->cf_greeting) {
		memset(pc, 0, sizeof(*pc));
		pc->pc_fd = fd;
		clock_now(&pc->pc_start);
		pc->pc_ss = ss;
		pc->pc_havepeer = 1;
		return fd;
	}
	return pending_accepted(fd, &ss, pc) ? fd : -1;
}

/*
 * The next client for the script, in pc, or -1 when a signal or a failed
 * accept came first, or the broker died (brokerfd, a pidfd, is readable
 * then).  Unless the server speaks first (--greeting), a new client is
 * held (server/pending.c) until it has sent its first line, and the
 * handler meanwhile serves others.  A handler leaving (listen unset)
 * accepts no more, and serves what it holds.
 *
 * Under load, held connections whose events a wait brought are served
 * one after the other without another wait, but for one (for nothing)
 * every HANDLER_QUICK turns, when signals come in, new clients, and the
 * connections busy siblings pass.  Accepting again before a wait, from
 * the listener that just had a client, cost more than the wait it saved
 * (the listener's lock, shared with the siblings, and a failed accept
 * every other time).
 */
static int
handler_accept(int brokerfd, int spare, int listen, const struct config *cf,
    const sigset_t *waitmask, struct pending_conn *pc)
{
	struct epoll_event	 ev[LISTEN_MAX + 2 + PENDING_EVENTS];
	static int		 turn, quick;
	int			 i, n, held, fd, ms, rms, heldready = 0;
	int			 passed = 0, taker;

	/* Leaving: what a busy sibling passed before it was told to. */
	if (!listen && handoff_recv(pc))
		return pc->pc_fd;
	if (pending_queued() && quick++ < HANDLER_QUICK &&
	    pending_take(0, pc))
		return pc->pc_fd;
	quick = 0;
	held = pending_count();
	ms = pending_waitms();
	if (spare && held == 0)
		ms = HANDLER_SPARE_IDLE * 1000;
	/* A status report still pending goes before long. */
	if (stats_handler.h_held != (uint32_t)held) {
		stats_handler.h_held = held;
		stats_handler_push(0);
	}
	if (stats_handler_wait() == 0)
		stats_handler_push(1);
	if ((rms = stats_handler_wait()) > 0 && (ms < 0 || rms < ms))
		ms = rms;
	/* Idle, with the passed connections' socket in its set: a taker. */
	taker = listen && !pending_full();
	if (taker && ms != 0)
		handoff_waiting();
	n = epoll_pwait(taker ? handler_ep : handler_epquiet, ev,
	    LISTEN_MAX + 2 + PENDING_EVENTS, ms, waitmask);
	if (n == -1) {
		if (errno != EINTR)
			log_warn("epoll_wait");
		return -1;
	}
	if (n == 0 && ms == rms)
		return -1;	/* the report goes on the next call */
	if (n == 0 && spare && held == 0) {
		handler_quit = 1;	/* a spare nobody needed */
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (brokerfd != -1 && ev[i].data.fd == brokerfd) {
			handler_quit = 1; /* to be replaced, linked to the new
					     one */
			return -1;
		}
		if (ev[i].data.fd == pending_epfd())
			heldready = 1;
		else if (ev[i].data.fd == handoff_fd())
			passed = 1;
		else if (pending_event(ev[i].data.fd))
			ev[i].data.fd = -1;	/* a held connection's */
	}
	/* A connection a busy handler passed has waited already. */
	if (passed && handoff_recv(pc))
		return pc->pc_fd;
	/* New clients and held ones in turn: neither waits behind the other. */
	if ((turn = !turn) && pending_take(heldready, pc))
		return pc->pc_fd;
	for (i = 0; i < n; i++) {
		if (ev[i].data.fd == -1 || ev[i].data.fd == pending_epfd() ||
		    ev[i].data.fd == handoff_fd())
			continue;
		/* Shut by the supervisor, which is stopping: go, even
		   before its TERM is here. */
		if (ev[i].events & (EPOLLHUP | EPOLLERR)) {
			handler_quit = 1;
			return -1;
		}
		if ((fd = handler_take(ev[i].data.fd, cf, pc)) >= 0)
			return fd;
		if (fd == -2)
			return -1;
	}
	if (!turn && pending_take(heldready, pc))
		return pc->pc_fd;
	return -1;
}

/*
 * A connection's script past its time and grace, stuck in C (or in code
 * LuaJIT compiled, where hooks do not run): say so, with words made
 * beforehand (to stderr, or syslog in a daemon), and go; the supervisor
 * starts another handler.
 */
static void
handler_killed(void)
{
	stats_handler_killed();
	log_lastwords();
	proc_killgroup();	/* and what the script started */
	_exit(1);
}

/* The client's address as text, for the log and the status board. */
static const char *
handler_peer(struct pending_conn *pc)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);

	if (pc->pc_peer[0] != '\0')
		return pc->pc_peer;
	if (!pc->pc_havepeer && getpeername(pc->pc_fd,
	    (struct sockaddr *)&ss, &sslen) == 0) {
		pc->pc_ss = ss;
		pc->pc_havepeer = 1;
	}
	if (pc->pc_havepeer)
		listen_name((struct sockaddr *)&pc->pc_ss, pc->pc_peer,
		    sizeof(pc->pc_peer));
	else
		(void)strlcpy(pc->pc_peer, "?", sizeof(pc->pc_peer));
	return pc->pc_peer;
}

/*
 * Run the script for one connection.  Its garbage is collected by Lua's
 * own pace, as it allocates; a connection that left much (more than
 * HANDLER_GCKB) has it stepped through now, not in the next one.
 */
static int
handler_run(lua_State *L, const struct config *cf, struct pending_conn *pc)
{
	int	 status, kb;

	lua_getfield(L, LUA_REGISTRYINDEX, HANDLER_CHUNK);
	isolate_enter(L);
	lua_setfenv(L, -2);
	if (cf->cf_handler_timeout > 0)
		log_setlastwords("%s: handler timed out", handler_peer(pc));
	timeout_arm(L, cf->cf_handler_timeout, cf->cf_grace,
	    "handler timed out", handler_killed);
	kb = lua_gc(L, LUA_GCCOUNT, 0);
	status = slua_pcall(L, 0, 0);
	if (status != 0 && timeout_fired())
		stats_handler.h_timedout++;
	else if (status != 0)
		stats_handler.h_errors++;
	timeout_disarm();
	isolate_leave(L);
	if (status != 0) {
		const char	*msg = lua_tostring(L, -1);

		log_warnx("%s: %s", handler_peer(pc),
		    msg ? msg : "(error object)");
		lua_pop(L, 1);
		/* Lua 5.1 does not collect when memory runs out: we do. */
		lua_gc(L, LUA_GCCOLLECT, 0);
		return status;
	}
	if ((kb = lua_gc(L, LUA_GCCOUNT, 0) - kb) > HANDLER_GCKB)
		lua_gc(L, LUA_GCSTEP, kb);
	return 0;
}

/*
 * Closing a socket with unread input resets the connection, and the
 * client may lose the end of our answer: read what the script left.
 */
static void
handler_drain(int fd)
{
	char	 buf[4096];
	int	 n, total = 0;

	if (ioctl(fd, FIONREAD, &n) == -1 || n == 0)
		return;
	while (total < 256 * 1024 && (n = read(fd, buf, sizeof(buf))) > 0)
		total += n;
}

/*
 * Run the script for the client in pc.  Returns 1, with pc filled again,
 * when the script kept the connection (client.keepalive()) and its next
 * request is already here; a kept connection whose next request is not
 * is held (server/pending.c), costing no handler while it idles.
 */
static int
handler_serve(lua_State *L, struct handler_env *he, struct pending_conn *pc)
{
	int			 fd = pc->pc_fd;
	struct client_io	 io = {
		.io_read = sock_read, .io_write = sock_write,
		.io_ctx = &fd, .io_rfd = fd, .io_wfd = fd,
	};
	char			 err[256];
	SSL			*ssl = NULL;
	const char		*left;
	size_t			 leftlen;
	int			 status, r, drained;

	/* The board names the client; no one else needs it yet. */
	stats_conn_begin(stats_fd != -1 ? handler_peer(pc) : "");
	if (he->he_tls != NULL && pc->pc_expired) {
		log_warnx("%s: tls: handshake timeout", handler_peer(pc));
		pending_release(pc);
		(void)close(fd);
		stats_handler.h_tlsfail++;
		stats_conn_end();
		return 0;
	}
	if (he->he_tls != NULL) {
		ssl = tls_accept(he->he_tls, fd, he->he_cf->cf_timeout,
		    he->he_cf->cf_tls_timeout, err, sizeof(err));
		if (ssl == NULL) {
			log_warnx("%s: tls: %s", handler_peer(pc), err);
			pending_release(pc);
			(void)close(fd);
			stats_handler.h_tlsfail++;
			stats_conn_end();
			return 0;
		}
		io.io_read = tls_read;
		io.io_write = tls_write;
		io.io_ctx = ssl;
	}
	client_open(&io, he->he_cf->cf_timeout, he->he_cf->cf_max_line,
	    he->he_cf->cf_max_job_size);
	client_deadline(&pc->pc_start, he->he_cf->cf_request_timeout);
	if (client_preload(pc->pc_buf, pc->pc_len, pc->pc_drained) == -1)
		log_warn("%s", handler_peer(pc));
	pending_free(pc);
	if (pc->pc_expired)
		client_expire();
	client_keepable(ssl == NULL && !he->he_cf->cf_greeting &&
	    !pc->pc_proxied);
	client_setpeer(fd, pc->pc_havepeer ? &pc->pc_ss : NULL);
	client_setconn(ssl != NULL, pc->pc_proxied ? pc->pc_balancer : NULL);
	work_reset(L);

	handoff_busy();
	status = handler_run(L, he->he_cf, pc);
	handoff_idle();
	work_finish(L);

	/*
	 * Only a client that has closed its side sends nothing more: a
	 * socket the script's last read emptied may have more by now (the
	 * rest of a body the script did not read, a kept connection's next
	 * request), which closing would answer with a reset.
	 */
	drained = ssl == NULL && client_ended();
	if (status == 0 && client_kept() && !handler_quit) {
		client_leftover(&left, &leftlen);
		r = pending_park(pc, left, leftlen, client_drained());
		client_close();
		if (r != -1)
			return r;
	} else
		client_close();
	pending_release(pc);
	tls_close(ssl);
	if (!drained)
		handler_drain(fd);
	(void)close(fd);
	stats_conn_end();
	return 0;
}

void
handler_main(struct handler_env *he)
{
	struct pending_conn	 pc;
	sigset_t	 waitmask;
	lua_State	*L;
	int		 fd, brokerfd = -1, serving;
	int		 max = he->he_cf->cf_max_requests;

	handler_signals(&waitmask);
	if (he->he_fd != -1 && (brokerfd = syscall(SYS_pidfd_open,
	    he->he_broker, 0)) == -1)
		log_warn("pidfd_open");
	work_handler_init(he->he_fd, brokerfd, he->he_slot,
	    he->he_cf->cf_max_job_size);
	L = slua_newstate(ROLE_HANDLER);
	timeout_state(L);
	print_setwriter(client_writeall, NULL);
	if (script_require(L, he->he_cf) != 0)
		fatalx("%s", lua_tostring(L, -1));
	handler_prepare(L, he->he_script);
	isolate_init(L);
	handler_started(he);
	stats_handler_init(stats_fd);
	pending_init(he->he_cf, he->he_tls != NULL);
	pending_listen(he->he_listen->l_fds, he->he_listen->l_n,
	    he->he_cf->cf_greeting);
	handoff_start(he->he_tls != NULL || he->he_cf->cf_greeting ||
	    he->he_cf->cf_proxy_protocol);
	handler_ep = handler_waitset(he->he_listen, brokerfd, 1);
	handler_epquiet = handler_waitset(he->he_listen, brokerfd, 0);
	pending_handlerset(handler_ep);

	/* A handler whose broker died leaves, to be replaced with a link to
	   the new one. */
	for (;;) {
		serving = !handler_quit && (max == 0 || handler_served < max) &&
		    !work_brokerdead();
		if (!serving) {
			handoff_stop();
			pending_dropidle();
		}
		if (!serving && pending_count() == 0) {
			if (!handoff_recv(&pc))
				break;
			fd = pc.pc_fd;
		} else
			fd = handler_accept(brokerfd, he->he_spare,
			    serving, he->he_cf, &waitmask, &pc);
		timeout_status_run();
		if (fd == -1)
			continue;
		handler_busy = 1;
		while (handler_serve(L, he, &pc))
			handler_served++;
		handler_busy = 0;
		handler_served++;
	}
	timeout_release(L);
	lua_close(L);
	exit(0);
}
