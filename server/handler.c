/*
 * A handler process in tcp mode.  It blocks in accept() on the listening
 * sockets it shares with its siblings, and runs the handler script once
 * per connection.  The script is compiled once; each connection runs it
 * with a fresh global table whose misses fall through to the standard
 * globals, so a connection never sees another's globals while the libraries
 * (and modules loaded with require) stay loaded.
 *
 * TERM and HUP are blocked except while waiting in ppoll(), so a
 * connection is never cut short: the handler exits between connections.
 */
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
#include "log.h"
#include "proxy.h"
#include "server.h"
#include "slualib.h"
#include "stats.h"
#include "timeout.h"
#include "util.h"
#include "work.h"

#define HANDLER_CHUNK	"slua.handler.chunk"
#define HANDLER_META	"slua.handler.meta"
#define HANDLER_EMFILE_MS	100
#define HANDLER_SPARE_IDLE	5	/* seconds a spare handler waits */

static volatile sig_atomic_t	 handler_quit;
static int			 handler_served;
static int			 handler_busy;

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
	return read(*(int *)ctx, buf, len);
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

/* Compile the script once; keep the chunk and the env metatable. */
static void
handler_prepare(lua_State *L, const struct script *sc)
{
	if (script_load(L, sc) != 0)
		fatalx("%s", lua_tostring(L, -1));
	lua_setfield(L, LUA_REGISTRYINDEX, HANDLER_CHUNK);
	lua_createtable(L, 0, 1);
	lua_pushvalue(L, LUA_GLOBALSINDEX);
	lua_setfield(L, -2, "__index");
	lua_setfield(L, LUA_REGISTRYINDEX, HANDLER_META);
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
 * The next client, or -1 when a signal or a failed accept came first, or
 * the broker died (brokerfd, a pidfd, is readable then).
 */
static int
handler_accept(struct listener *l, int brokerfd, int spare,
    const sigset_t *waitmask)
{
	struct pollfd	 pfd[LISTEN_MAX + 1];
	struct timespec	 idle = { HANDLER_SPARE_IDLE, 0 }, report, *wait;
	int		 i, fd, r, ms;

	for (i = 0; i < l->l_n; i++) {
		pfd[i].fd = l->l_fds[i];
		pfd[i].events = POLLIN;
	}
	pfd[i].fd = brokerfd;		/* poll(2) skips -1 */
	pfd[i].events = POLLIN;
	/* A status report still pending goes before long. */
	if (stats_handler_wait() == 0)
		stats_handler_push(1);
	wait = spare ? &idle : NULL;
	if ((ms = stats_handler_wait()) > 0) {
		report.tv_sec = ms / 1000;
		report.tv_nsec = (ms % 1000) * 1000000L;
		wait = &report;
	}
	if ((r = ppoll(pfd, l->l_n + 1, wait, waitmask)) == -1) {
		if (errno != EINTR)
			log_warn("poll");
		return -1;
	}
	if (r == 0 && wait == &report)
		return -1;	/* the report goes on the next call */
	if (r == 0) {
		handler_quit = 1;	/* a spare nobody needed */
		return -1;
	}
	if (pfd[l->l_n].revents) {
		handler_quit = 1;	/* to be replaced, linked to the new one */
		return -1;
	}
	for (i = 0; i < l->l_n; i++) {
		/* Shut by the supervisor, which is stopping: go, even
		   before its TERM is here. */
		if (pfd[i].revents & (POLLHUP | POLLERR)) {
			handler_quit = 1;
			return -1;
		}
		if (!(pfd[i].revents & POLLIN))
			continue;
		fd = accept4(l->l_fds[i], NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC);
		if (fd != -1)
			return fd;
		/* Out of descriptors: pause rather than spin on accept. */
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			handler_pause();
			return -1;
		}
		/* EAGAIN: a sibling took it; others: the client left. */
	}
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

/* Run the script for one connection. */
static void
handler_run(lua_State *L, const struct config *cf, const char *peer)
{
	int	 status;

	lua_getfield(L, LUA_REGISTRYINDEX, HANDLER_CHUNK);
	lua_newtable(L);
	lua_pushvalue(L, -1);
	lua_setfield(L, -2, "_G");
	lua_getfield(L, LUA_REGISTRYINDEX, HANDLER_META);
	lua_setmetatable(L, -2);
	lua_setfenv(L, -2);
	if (cf->cf_handler_timeout > 0)
		log_setlastwords("%s: handler timed out", peer);
	timeout_arm(L, cf->cf_handler_timeout, cf->cf_grace,
	    "handler timed out", handler_killed);
	status = slua_pcall(L, 0, 0);
	if (status != 0 && timeout_fired())
		stats_handler.h_timedout++;
	else if (status != 0)
		stats_handler.h_errors++;
	timeout_disarm();
	if (status != 0) {
		const char	*msg = lua_tostring(L, -1);

		log_warnx("%s: %s", peer, msg ? msg : "(error object)");
		lua_pop(L, 1);
		/* Lua 5.1 does not collect when memory runs out: we do. */
		lua_gc(L, LUA_GCCOLLECT, 0);
		return;
	}
	/* The connection's garbage goes now, not into the next one. */
	lua_gc(L, LUA_GCSTEP, 0);
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

static void
handler_serve(lua_State *L, struct handler_env *he, int fd)
{
	struct client_io	 io = {
		.io_read = sock_read, .io_write = sock_write,
		.io_ctx = &fd, .io_rfd = fd, .io_wfd = fd,
	};
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 peer[64] = "?", err[256], balancer[64] = "";
	SSL			*ssl = NULL;

	if (getpeername(fd, (struct sockaddr *)&ss, &sslen) == 0)
		listen_name((struct sockaddr *)&ss, peer, sizeof(peer));
	else
		ss.ss_family = AF_UNSPEC;
	stats_conn_begin(peer);
	if (he->he_cf->cf_proxy_protocol) {
		if (proxy_accept(fd, he->he_cf->cf_timeout, &ss, peer,
		    sizeof(peer), balancer, sizeof(balancer)) == -1) {
			(void)close(fd);
			stats_conn_end();
			return;
		}
		stats_conn_peer(peer);
	}
	if (he->he_tls != NULL) {
		ssl = tls_accept(he->he_tls, fd, he->he_cf->cf_timeout, err,
		    sizeof(err));
		if (ssl == NULL) {
			log_warnx("%s: tls: %s", peer, err);
			(void)close(fd);
			stats_handler.h_tlsfail++;
			stats_conn_end();
			return;
		}
		io.io_read = tls_read;
		io.io_write = tls_write;
		io.io_ctx = ssl;
	}
	client_open(&io, he->he_cf->cf_timeout, he->he_cf->cf_max_line,
	    he->he_cf->cf_max_job_size);
	client_setpeer(L, fd, &ss);
	lua_getglobal(L, "client");
	lua_pushboolean(L, ssl != NULL);
	lua_setfield(L, -2, "tls");
	if (balancer[0] != '\0')
		lua_pushstring(L, balancer);
	else
		lua_pushnil(L);
	lua_setfield(L, -2, "proxy_ip");
	lua_pop(L, 1);
	work_reset(L);

	handler_run(L, he->he_cf, peer);
	work_finish(L);

	client_close();
	tls_close(ssl);
	handler_drain(fd);
	(void)close(fd);
	stats_conn_end();
}

void
handler_main(struct handler_env *he)
{
	sigset_t	 waitmask;
	lua_State	*L;
	int		 fd, brokerfd = -1;
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
	handler_started(he);
	stats_handler_init(stats_fd);

	/* A handler whose broker died leaves, to be replaced with a link to
	   the new one. */
	while (!handler_quit && (max == 0 || handler_served < max) &&
	    !work_brokerdead()) {
		fd = handler_accept(he->he_listen, brokerfd, he->he_spare,
		    &waitmask);
		timeout_status_run();
		if (fd == -1)
			continue;
		handler_busy = 1;
		handler_serve(L, he, fd);
		handler_busy = 0;
		handler_served++;
	}
	timeout_release(L);
	lua_close(L);
	exit(0);
}
