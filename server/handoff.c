/*
 * A handler holds, in C, the clients that have not sent their first line
 * and the connections kept with client.keepalive() (server/pending.c).
 * While it runs a script for one of them, the others cannot be served by
 * it; this file moves those that become ready then to a handler that is
 * idle, so that a request never waits behind a busy handler while another
 * has nothing to do.
 *
 * How: a thread in each handler, the watcher, which does nothing but
 * sleep, poll(2), read a first line, sendmsg(2) and close(2), and never
 * touches Lua.  The handler owns its held connections except while a
 * script runs: it holds a mutex the rest of the time, so the watcher can
 * only act during a script.  Every HANDOFF_MS the watcher looks whether
 * the script it saw last time is still running; once one is, it takes the
 * set, and until the script ends passes each held connection whose first
 * line comes (with what was read of it: pipelined requests, the start of
 * a line) over a SOCK_SEQPACKET socketpair that the supervisor made and
 * every handler shares.  Idle handlers wait on its receiving end beside
 * the listeners, with EPOLLEXCLUSIVE, so one of them takes it; the next
 * request on it is that handler's, as if it had accepted it.  It passes
 * only while it holds a token (below): when every handler is busy, none
 * would take it before its own is free.
 *
 * Tokens: a handler about to wait idle, taking what is passed, first puts
 * HANDOFF_PER bytes into a pipe the supervisor made, less those it has
 * out already; a watcher reads one before each pass, and passes nothing
 * when the pipe is empty.  A handler that takes a passed connection gets
 * back one of its own, or puts one in if it had none out (it takes while
 * leaving), so the pipe holds, give or take those in flight, what the
 * handlers that waited since they last took put in.  They are not taken
 * back when a wait ends: that would cost two system calls a wait on the
 * busy path, where tokens cost none (a handler that takes nothing puts
 * its tokens in once).  So a busy handler's tokens stay, and up to
 * HANDOFF_PER connections may be passed to it while it is busy, served
 * by whichever handler is idle first.  A handler leaving reads back what
 * it can of its own.  One killed leaves them behind for good (a pass uses
 * one, its taker puts one back): up to HANDOFF_PER more may be passed
 * while all are busy, which still wait only for the first idle handler,
 * and when the socket is full a connection stays with its own.  Handlers
 * share nothing in memory (slua's processes talk only over sockets and
 * pipes).
 *
 * Why this way, of those considered:
 * - Moving at the start of each script whatever is ready would miss what
 *   becomes ready later (the request that arrives while a long script
 *   runs, the case that matters), and cost a pass on the busy path.
 * - One parker process holding every idle connection costs two passes
 *   and a wake-up on every keep-alive request.
 * - pidfd_getfd(2) by an idle handler needs ptrace rights over its
 *   sibling (lost after -u drops privileges, unless made dumpable again)
 *   and a way to know which of its descriptors are ready.
 * - A timer signal in the handler would interrupt the script's system
 *   calls (os.usleep, LuaSocket's select) with EINTR.
 * The watcher costs the busy path one unlock and one lock of an
 * uncontended mutex per script, and a wake-up every HANDOFF_MS while
 * scripts run; scripts shorter than that never move anything, and a
 * request on a kept connection whose handler is idle is served there, as
 * before.  It starts only once the handler holds a connection as a script
 * starts, so a handler whose clients all send their request at once and
 * are not kept (Connection: close) stays single-threaded.  Measured here
 * (regress/bench/handoff.sh, 2 vCPUs shared with others, load average 2
 * to 13, runs in turn with the binary before it, medians): keep-alive
 * -H 4 wrk -c64, 21 runs each, 27.5k req/s and 37 us of CPU a request
 * against 26.9k and 35 us; Connection: close, 12 runs, 9.1k and 66 us
 * against 8.6k and 67 us: all within the noise, which is 10% and more.
 * Each watcher woke about 130 times a second under -c64 (its handler
 * about 3,500) and passed nothing, and valgrind counted 1% more
 * instructions a keep-alive request, 0.2% more a closed one.
 * A request passed while the watcher already watches is answered in
 * about 0.5 ms; one that comes as a script starts, in 10 to 22 ms.
 * Nothing moves under TLS (OpenSSL's state lives in the handler), with
 * --greeting or --proxy-protocol (nothing is held), or from a handler
 * that is leaving, which serves what it holds.  A TERM that comes while
 * a script runs waits, blocked, for it to end: until then the watcher
 * passes as before, to the new generation's handlers on a reload; on a
 * stop, those that have not left take it, or the handler itself before
 * it leaves (it empties the socket then), so nothing passed is lost.
 *
 * A descriptor in flight counts against the sender's RLIMIT_NOFILE
 * (ETOOMANYREFS), and the socket holds so many bytes: a connection that
 * cannot be sent stays, ready, for its own handler once the script ends.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "pending.h"
#include "util.h"

#define HANDOFF_STACK	(64 * 1024)

/* What goes with the descriptor: the bytes read of it follow. */
struct handoff_hdr {
	struct timespec	 hh_start;	/* the request's deadline runs from */
	struct sockaddr_storage hh_peer; /* the client (AF_UNSPEC: unknown) */
	size_t		 hh_len;
};

static int		 handoff_fds[2] = { -1, -1 };	/* send, receive */
static int		 handoff_tok[2] = { -1, -1 };	/* tokens: read, write */
static int		 handoff_out;		/* tokens this handler put in */
static int		 handoff_ok;		/* this handler passes and takes */
static int		 handoff_on;		/* its watcher runs */
static int		 handoff_nothread;	/* it could not start */
static pthread_mutex_t	 handoff_lock = PTHREAD_MUTEX_INITIALIZER;
/* Under handoff_lock: */
static unsigned long	 handoff_seq;		/* scripts started */
static int		 handoff_leaving;
static int		 handoff_err;		/* why one stayed; 0: none */
static int		 handoff_stayed;	/* how many, since said */

/*
 * The supervisor, before any handler: the socket they share, and the pipe
 * of tokens (see the top of this file) that spares a busy handler passing
 * connections that no handler would take before it is free itself (under
 * load, when every handler is busy), or more than the idle ones take in
 * turn.
 */
int
handoff_open(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, handoff_fds) == -1) {
		log_warn("handoff socketpair");
		return -1;
	}
	if (pipe2(handoff_tok, O_NONBLOCK | O_CLOEXEC) == -1) {
		log_warn("handoff pipe");
		handoff_close();
		return -1;
	}
	return 0;
}

void
handoff_close(void)
{
	int	 i;

	for (i = 0; i < 2; i++) {
		if (handoff_fds[i] != -1)
			(void)close(handoff_fds[i]);
		if (handoff_tok[i] != -1)
			(void)close(handoff_tok[i]);
		handoff_fds[i] = handoff_tok[i] = -1;
	}
}

/* The descriptors a handler keeps, added to keep; how many. */
int
handoff_keep(int *keep)
{
	int	 i, n = 0;

	for (i = 0; i < 2; i++) {
		if (handoff_fds[i] != -1)
			keep[n++] = handoff_fds[i];
		if (handoff_tok[i] != -1)
			keep[n++] = handoff_tok[i];
	}
	return n;
}

/* The receiving end, for an idle handler's epoll set; -1: none. */
int
handoff_fd(void)
{
	return handoff_ok ? handoff_fds[1] : -1;
}

static void
handoff_lock_take(void)
{
	int	 e;

	if ((e = pthread_mutex_lock(&handoff_lock)) != 0)
		fatalx("pthread_mutex_lock: %s", strerror(e));
}

static void
handoff_lock_give(void)
{
	int	 e;

	if ((e = pthread_mutex_unlock(&handoff_lock)) != 0)
		fatalx("pthread_mutex_unlock: %s", strerror(e));
}

/* The script the watcher saw (seen) still runs: 1, with the lock. */
static int
handoff_still(unsigned long seen)
{
	if (pthread_mutex_trylock(&handoff_lock) != 0)
		return 0;	/* the handler is back */
	if (handoff_seq == seen && !handoff_leaving)
		return 1;
	handoff_lock_give();
	return 0;
}

/*
 * The script seen has run a whole tick: move what is ready, and what
 * becomes ready, until it ends.  Called with the lock, returns without.
 */
static void
handoff_during(unsigned long seen)
{
	struct pollfd	 pfd = { .fd = pending_epfd(), .events = POLLIN };

	do {
		pending_handoff();
		handoff_lock_give();
		/* Until a held connection has input, or a tick: poll(2)
		   takes no event from the set, which is the handler's again
		   if its script ends meanwhile. */
		(void)poll(&pfd, 1, HANDOFF_MS);
	} while (handoff_still(seen));
}

static void *
handoff_watch(void *arg)
{
	struct timespec	 tick;
	unsigned long	 seen;

	(void)arg;
	handoff_lock_take();
	seen = handoff_seq;
	handoff_lock_give();
	for (;;) {
		tick.tv_sec = 0;
		tick.tv_nsec = HANDOFF_MS * 1000000L;
		(void)nanosleep(&tick, NULL);
		if (pthread_mutex_trylock(&handoff_lock) != 0) {
			/* Between scripts, or idle: sleep until the next. */
			handoff_lock_take();
			seen = handoff_seq;
			handoff_lock_give();
			continue;
		}
		if (handoff_seq != seen || handoff_leaving) {
			seen = handoff_seq;
			handoff_lock_give();
			continue;
		}
		handoff_during(seen);
	}
	return NULL;
}

/*
 * A handler passes and takes connections unless it holds none (off: TLS,
 * --greeting, --proxy-protocol).
 */
void
handoff_start(int off)
{
	handoff_ok = !off && handoff_fds[0] != -1;
}

/*
 * The watcher starts with the first script run while the handler holds
 * connections: one that never holds any (every client sends its request
 * with the connection, and none is kept) stays a single thread, whose
 * malloc needs no atomic operations.  It starts with the lock, which the
 * handler holds but while a script runs.
 */
static void
handoff_spawn(void)
{
	pthread_attr_t	 attr;
	pthread_t	 t;
	sigset_t	 all, old;
	int		 e;

	handoff_lock_take();
	/* Signals are the handler's: the watcher takes none. */
	sigfillset(&all);
	if ((e = pthread_sigmask(SIG_SETMASK, &all, &old)) != 0)
		fatalx("pthread_sigmask: %s", strerror(e));
	if ((e = pthread_attr_init(&attr)) != 0 ||
	    (e = pthread_attr_setstacksize(&attr, HANDOFF_STACK)) != 0 ||
	    (e = pthread_attr_setdetachstate(&attr,
	    PTHREAD_CREATE_DETACHED)) != 0 ||
	    (e = pthread_create(&t, &attr, handoff_watch, NULL)) != 0)
		log_warnx("handoff: %s: held connections stay with their "
		    "handler", strerror(e));
	else
		handoff_on = 1;
	(void)pthread_attr_destroy(&attr);
	if ((e = pthread_sigmask(SIG_SETMASK, &old, NULL)) != 0)
		fatalx("pthread_sigmask: %s", strerror(e));
	if (!handoff_on) {
		handoff_nothread = 1;
		handoff_lock_give();
	}
}

/* A script starts: the watcher may take the held connections. */
void
handoff_busy(void)
{
	if (!handoff_on && handoff_ok && !handoff_nothread &&
	    pending_count() > 0)
		handoff_spawn();
	if (!handoff_on)
		return;
	handoff_seq++;
	handoff_lock_give();
}

/* The script ended: they are the handler's again. */
void
handoff_idle(void)
{
	static struct timespec	 last;
	struct timespec		 now;

	if (!handoff_on)
		return;
	handoff_lock_take();
	if (handoff_err == 0)
		return;
	clock_now(&now);
	if (last.tv_sec != 0 && clock_ms(&last, &now) < 1000)
		return;
	log_warnx("handoff: %s: %d ready connections stayed with their busy "
	    "handler", handoff_err == EAGAIN || handoff_err == EWOULDBLOCK ?
	    "no handler takes them" : strerror(handoff_err), handoff_stayed);
	last = now;
	handoff_err = 0;
	handoff_stayed = 0;
}

/* Put n tokens in: how many went. */
static int
handoff_put(int n)
{
	static const char	 tok[HANDOFF_PER];
	ssize_t			 w;

	if ((w = write(handoff_tok[1], tok, n)) == -1) {
		if (errno != EAGAIN)
			log_warn("handoff tokens");
		return 0;
	}
	return w;
}

/* A handler leaving serves what it holds, moves nothing, takes back
   what it can of its tokens. */
void
handoff_stop(void)
{
	char	 tok[HANDOFF_PER];

	handoff_leaving = 1;
	/* Those not there went with passes in flight. */
	if (handoff_out > 0 && read(handoff_tok[0], tok, handoff_out) == -1 &&
	    errno != EAGAIN)
		log_warn("handoff tokens");
	handoff_out = 0;
}

/*
 * A handler is about to wait, taking what is passed: its tokens in, those
 * it had out and got back since.  Nothing when it has them all out, as
 * when it took nothing since its last wait.
 */
void
handoff_waiting(void)
{
	if (handoff_ok && !handoff_leaving && handoff_out < HANDOFF_PER)
		handoff_out += handoff_put(HANDOFF_PER - handoff_out);
}

/*
 * The watcher, with the lock, before a pass: 1 with a token, 0 when none
 * is left but its own handler's, which is busy.
 */
static int
handoff_token(void)
{
	char	 tok;
	int	 n;

	if (ioctl(handoff_tok[0], FIONREAD, &n) == -1 || n <= handoff_out)
		return 0;
	return read(handoff_tok[0], &tok, 1) == 1;
}

/*
 * The watcher, with the lock: pass fd, from peer (or NULL), with the
 * bytes read of it (buf), to whichever idle handler takes it.  0; -1 when
 * it stays here for now, as no handler waits idle to take it; -2 when it
 * stays for good, as the socket refused it.
 */
int
handoff_send(int fd, const struct timespec *start, const struct sockaddr *peer,
    const char *buf, size_t len)
{
	struct handoff_hdr	 hh;
	struct iovec		 iov[2];
	struct msghdr		 msg;
	struct cmsghdr		*cm;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	}			 cmsg;

	if (!handoff_token())
		return -1;
	memset(&hh, 0, sizeof(hh));
	hh.hh_start = *start;
	hh.hh_peer.ss_family = AF_UNSPEC;
	if (peer != NULL && peer->sa_family == AF_INET)
		memcpy(&hh.hh_peer, peer, sizeof(struct sockaddr_in));
	else if (peer != NULL && peer->sa_family == AF_INET6)
		memcpy(&hh.hh_peer, peer, sizeof(struct sockaddr_in6));
	hh.hh_len = len;
	iov[0].iov_base = &hh;
	iov[0].iov_len = sizeof(hh);
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = len;
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = len > 0 ? 2 : 1;
	memset(&cmsg, 0, sizeof(cmsg));
	msg.msg_control = cmsg.buf;
	msg.msg_controllen = sizeof(cmsg.buf);
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	if (sendmsg(handoff_fds[0], &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != -1)
		return 0;
	/* ETOOMANYREFS, EAGAIN (the socket is full), ENOBUFS: it stays. */
	handoff_err = errno;
	handoff_stayed++;
	(void)handoff_put(1);
	return -2;
}

/* The descriptor a message carried, or -1. */
static int
handoff_rights(struct msghdr *msg)
{
	struct cmsghdr	*cm;
	int		 fd = -1;

	for (cm = CMSG_FIRSTHDR(msg); cm != NULL; cm = CMSG_NXTHDR(msg, cm))
		if (cm->cmsg_level == SOL_SOCKET &&
		    cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * An idle handler, or one leaving: 1 and pc filled with a connection
 * another handler passed, its first line read; 0 when there is none (a
 * sibling took it first).
 */
int
handoff_recv(struct pending_conn *pc)
{
	static char		 in[PENDING_BUF];
	struct handoff_hdr	 hh;
	struct iovec		 iov[2];
	struct msghdr		 msg;
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	}			 cmsg;
	ssize_t			 n;
	int			 fd;

	if (!handoff_ok)
		return 0;
	iov[0].iov_base = &hh;
	iov[0].iov_len = sizeof(hh);
	iov[1].iov_base = in;
	iov[1].iov_len = sizeof(in);
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cmsg.buf;
	msg.msg_controllen = sizeof(cmsg.buf);
	if ((n = recvmsg(handoff_fds[1], &msg, MSG_DONTWAIT |
	    MSG_CMSG_CLOEXEC)) == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_warn("handoff recvmsg");
		return 0;
	}
	/* Its token: one of this handler's back, or one in for it. */
	if (handoff_out > 0)
		handoff_out--;
	else
		(void)handoff_put(1);
	fd = handoff_rights(&msg);
	if (fd == -1 || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ||
	    (size_t)n < sizeof(hh) || (size_t)n - sizeof(hh) != hh.hh_len) {
		/* MSG_CTRUNC: out of descriptors, the connection is lost. */
		log_warnx("handoff: a connection passed came %s",
		    fd == -1 ? "without its descriptor" : "cut short");
		if (fd != -1)
			(void)close(fd);
		return 0;
	}
	memset(pc, 0, sizeof(*pc));
	pc->pc_fd = fd;
	pc->pc_start = hh.hh_start;
	if (hh.hh_peer.ss_family != AF_UNSPEC) {
		pc->pc_ss = hh.hh_peer;
		pc->pc_havepeer = 1;
	}
	if (hh.hh_len > 0) {
		if ((pc->pc_buf = malloc(hh.hh_len)) == NULL) {
			log_warn("handoff");
			(void)close(fd);
			return 0;
		}
		memcpy(pc->pc_buf, in, hh.hh_len);
		pc->pc_len = hh.hh_len;
	}
	return 1;
}
