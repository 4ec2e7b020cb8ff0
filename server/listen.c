/*
 * Listening sockets, bound by the supervisor before any child exists, so a
 * port in use is reported on the terminal and nothing is left running.
 */
#include <sys/socket.h>

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "util.h"

#define LISTEN_BACKLOG	1024

/* "addr:port" for messages; IPv6 in brackets. */
void
listen_name(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 host[INET6_ADDRSTRLEN] = "?";
	int	 port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *sin = (const void *)sa;

		(void)inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		(void)snprintf(buf, len, "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const void *)sa;

		(void)inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		(void)snprintf(buf, len, "[%s]:%d", host, port);
	} else
		(void)snprintf(buf, len, "?");
}

static int
listen_one(struct listener *l, const struct addrinfo *ai)
{
	char	 name[64];
	int	 fd, on = 1;

	listen_name(ai->ai_addr, name, sizeof(name));
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1) {
		/* A kernel without IPv6 still serves IPv4. */
		if (errno == EAFNOSUPPORT)
			return 0;
		log_warn("socket %s", name);
		return -1;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		goto fail;
	if (ai->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &on, sizeof(on)) == -1)
		goto fail;
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		log_warn("bind %s", name);
		(void)close(fd);
		return -1;
	}
	if (l->l_n == LISTEN_MAX) {
		log_warnx("too many listening sockets");
		(void)close(fd);
		return -1;
	}
	l->l_fds[l->l_n++] = fd;
	return 0;
 fail:
	log_warn("%s", name);
	(void)close(fd);
	return -1;
}

/*
 * The socket addresses of addr (NULL: the wildcards) on port, as bind
 * takes them.  An address that does not parse is refused before any
 * lookup, so "999.1.1.1" is no query to a name server.  NULL, logged,
 * when none.
 */
static struct addrinfo *
listen_lookup(const char *addr, int port)
{
	struct addrinfo	 hints, *res;
	char		 host[256], serv[16], why[256];
	size_t		 len;
	int		 error;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	(void)snprintf(serv, sizeof(serv), "%d", port);
	if (addr != NULL) {
		if (confcheck_addr(addr, why, sizeof(why)) == -1) {
			log_warnx("listen %s: %s", addr, why);
			return NULL;
		}
		/* "[::1]" is "::1", as in URLs. */
		len = strlen(addr);
		if (len > 2 && addr[0] == '[' && addr[len - 1] == ']')
			(void)snprintf(host, sizeof(host), "%.*s",
			    (int)(len - 2), addr + 1);
		else
			(void)strlcpy(host, addr, sizeof(host));
	}
	error = getaddrinfo(addr ? host : NULL, serv, &hints, &res);
	if (error != 0) {
		log_warnx("listen %s: %s", addr ? addr : "*",
		    gai_strerror(error));
		return NULL;
	}
	return res;
}

static int
listen_addr(struct listener *l, const char *addr, int port)
{
	struct addrinfo	*res, *ai;

	if ((res = listen_lookup(addr, port)) == NULL)
		return -1;
	for (ai = res; ai != NULL; ai = ai->ai_next)
		if (listen_one(l, ai) == -1) {
			freeaddrinfo(res);
			return -1;
		}
	freeaddrinfo(res);
	return 0;
}

static int
listen_islistening(int fd)
{
	int		 on = 0;
	socklen_t	 len = sizeof(on);

	return getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
	    on;
}

static int
listen_take(struct listener *l, int fd)
{
	int	 flags;

	if (l->l_n == LISTEN_MAX || (flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		return -1;
	l->l_fds[l->l_n++] = fd;
	return 0;
}

/*
 * Sockets someone else bound for us: systemd's socket activation
 * (LISTEN_PID and LISTEN_FDS, descriptors from 3 on), or a listening
 * socket as standard input.  Returns how many were taken.
 */
static int
listen_inherited(struct listener *l)
{
	const char	*pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	const char	*errstr;
	int		 n, i;

	if (pid != NULL && fds != NULL &&
	    strtonum(pid, 1, INT_MAX, &errstr) == getpid()) {
		n = strtonum(fds, 0, LISTEN_MAX, &errstr);
		if (errstr != NULL)
			n = 0;
		for (i = 0; i < n; i++)
			if (listen_islistening(3 + i) &&
			    listen_take(l, 3 + i) == -1)
				return -1;
		(void)unsetenv("LISTEN_PID");
		(void)unsetenv("LISTEN_FDS");
		(void)unsetenv("LISTEN_FDNAMES");
		return l->l_n;
	}
	if (listen_islistening(STDIN_FILENO)) {
		if ((i = dup(STDIN_FILENO)) == -1 || listen_take(l, i) == -1)
			return -1;
		if (fd_devnull(STDIN_FILENO) == -1)
			return -1;
		return 1;
	}
	return 0;
}

/* Bind every address of the configuration, or none. */
int
listen_open(struct listener *l, const struct config *cf)
{
	int	 i, n;

	memset(l, 0, sizeof(*l));
	if ((n = listen_inherited(l)) == -1) {
		log_warn("inherited socket");
		listen_close(l);
		return -1;
	}
	if (n > 0) {
		l->l_inherited = 1;
		log_debug("serving %d inherited listening sockets", n);
		return 0;
	}
	if (cf->cf_nlisten == 0) {
		if (listen_addr(l, NULL, cf->cf_port) == -1)
			goto fail;
	}
	for (i = 0; i < cf->cf_nlisten; i++)
		if (listen_addr(l, cf->cf_listen[i], cf->cf_port) == -1)
			goto fail;
	if (l->l_n == 0) {
		log_warnx("no address to listen on");
		return -1;
	}
	return 0;
 fail:
	listen_close(l);
	return -1;
}

/* Whether ai's socket address came before it, in res[0] .. res[i]. */
static int
listen_seen(struct addrinfo **res, int i, const struct addrinfo *ai)
{
	const struct addrinfo	*bi;
	int			 j;

	for (j = 0; j <= i; j++)
		for (bi = res[j]; bi != NULL && bi != ai; bi = bi->ai_next)
			if (bi->ai_addrlen == ai->ai_addrlen &&
			    memcmp(bi->ai_addr, ai->ai_addr,
			    ai->ai_addrlen) == 0)
				return 1;
	return 0;
}

/*
 * slua -n: what listen_open would bind, looked up but not bound (a running
 * slua may hold the port): each address resolves, and no socket address
 * comes twice, which the start would find only once it listens.
 */
int
listen_check(const struct config *cf)
{
	struct addrinfo	*res[CONFIG_MAXLISTEN], *ai;
	char		 name[64];
	int		 i, n, rc = 0;

	for (n = 0; n < cf->cf_nlisten; n++)
		if ((res[n] = listen_lookup(cf->cf_listen[n],
		    cf->cf_port)) == NULL) {
			rc = -1;
			break;
		}
	for (i = 0; i < n && rc == 0; i++)
		for (ai = res[i]; ai != NULL && rc == 0; ai = ai->ai_next)
			if (listen_seen(res, i, ai)) {
				listen_name(ai->ai_addr, name, sizeof(name));
				log_warnx("listen %s: %s is listed twice",
				    cf->cf_listen[i], name);
				rc = -1;
			}
	for (i = 0; i < n; i++)
		freeaddrinfo(res[i]);
	return rc;
}

/*
 * Start listening.  Binding comes first, where errors can still reach the
 * terminal; listening comes once slua has detached and written its
 * pidfile, so whoever finds the port open finds the pid too.
 */
int
listen_start(struct listener *l)
{
	int	 i;

	for (i = 0; i < l->l_n; i++)
		if (listen(l->l_fds[i], LISTEN_BACKLOG) == -1) {
			log_warn("listen");
			return -1;
		}
	return 0;
}

void
listen_close(struct listener *l)
{
	int	 i;

	for (i = 0; i < l->l_n; i++)
		(void)close(l->l_fds[i]);
	l->l_n = 0;
}

/*
 * A stop in two steps, so that no connection the kernel has completed is
 * reset and none is left waiting.  First listen_quiesce(): a filter on
 * each listening socket drops every new SYN (the client repeats it a
 * second later, and by then finds the port closed) while the handshakes
 * under way complete; the handlers serve what is queued.  Then, with the
 * queue empty, listen_shut(): shutdown(2) on a listening socket makes
 * Linux stop listening in every process that holds it, busy handlers
 * included, so a new connection is refused (a balancer's retries go to
 * another host) and the handlers waiting in poll wake up.  Neither on
 * sockets systemd holds too: it goes on queueing for the next start.
 */
int
listen_quiesce(struct listener *l)
{
	/* On a TCP socket the filter sees the TCP header: byte 13 holds
	   the flags, and SYN without ACK opens a connection. */
	static struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 13),
		BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0x12),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x02, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, 0),
		BPF_STMT(BPF_RET | BPF_K, 0xffffffff),
	};
	struct sock_fprog	 prog = {
		.len = sizeof(code) / sizeof(code[0]), .filter = code
	};
	int			 i;

	if (l->l_inherited)
		return -1;
	for (i = 0; i < l->l_n; i++)
		if (setsockopt(l->l_fds[i], SOL_SOCKET, SO_ATTACH_FILTER,
		    &prog, sizeof(prog)) == -1) {
			log_warn("SO_ATTACH_FILTER");
			return -1;
		}
	return 0;
}

/* Connections completed and waiting for accept(2), on all sockets. */
int
listen_queued(const struct listener *l)
{
	struct tcp_info	 ti;
	socklen_t	 len;
	int		 i, n = 0;

	for (i = 0; i < l->l_n; i++) {
		len = sizeof(ti);
		if (getsockopt(l->l_fds[i], IPPROTO_TCP, TCP_INFO, &ti,
		    &len) == 0)
			n += ti.tcpi_unacked;	/* the accept queue */
	}
	return n;
}

void
listen_shut(struct listener *l)
{
	int	 i;

	if (l->l_inherited)
		return;
	for (i = 0; i < l->l_n; i++)
		if (shutdown(l->l_fds[i], SHUT_RDWR) == -1 && errno != ENOTCONN)
			log_warn("shutdown");
}
