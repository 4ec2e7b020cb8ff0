/*
 * The --status listener: a few plain HTTP/1.1 GET requests, served by
 * the supervisor in its loop without ever blocking it.  Each client has
 * STATUS_MAXREQ bytes for its request and STATUS_CLIENT_MS for the whole
 * exchange; the answer is made whole when the request is read, and written
 * as the socket takes it; then the connection closes.  More than
 * STATUS_MAXCLIENTS clients at a time wait in the listen queue.
 *
 * The listener is bound at start, before slua detaches and before any
 * child exists, on ADDR:PORT or, for an argument with a '/', a Unix
 * socket path; never on the service's own listeners.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "stats.h"
#include "status.h"
#include "util.h"

#define STATUS_BACKLOG	16

static int
status_stale(const struct sockaddr_un *sun)
{
	int	 fd, stale;

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	stale = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) ==
	    -1 && errno == ECONNREFUSED;
	(void)close(fd);
	return stale;
}

static int
status_unix(struct status *st, const char *path)
{
	struct sockaddr_un	 sun;
	struct stat		 sb;
	int			 fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >=
	    sizeof(sun.sun_path)) {
		log_warnx("status %s: path too long", path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warn("status socket");
		return -1;
	}
	/* A socket nobody listens on, left by a slua that did not stop
	   cleanly, goes; nothing else does. */
	if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode) &&
	    status_stale(&sun))
		(void)unlink(path);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		log_warn("status %s", path);
		(void)close(fd);
		return -1;
	}
	(void)strlcpy(st->st_path, path, sizeof(st->st_path));
	return fd;
}

/* Whether a and b are the same port on overlapping addresses. */
static int
status_same(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	const struct sockaddr_in	*a4 = (const void *)a, *b4 = (const void *)b;
	const struct sockaddr_in6	*a6 = (const void *)a, *b6 = (const void *)b;

	if (a->ss_family != b->ss_family)
		return 0;
	if (a->ss_family == AF_INET)
		return a4->sin_port == b4->sin_port &&
		    (a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == INADDR_ANY ||
		    b4->sin_addr.s_addr == INADDR_ANY);
	if (a->ss_family == AF_INET6)
		return a6->sin6_port == b6->sin6_port &&
		    (IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr));
	return 0;
}

/*
 * The service's listeners are bound, not yet listening, and with
 * SO_REUSEADDR the kernel would let us bind beside them: refuse here.
 */
static int
status_clash(int fd, const struct listener *l)
{
	struct sockaddr_storage	 me, it;
	socklen_t		 len;
	int			 i;

	len = sizeof(me);
	if (getsockname(fd, (struct sockaddr *)&me, &len) == -1)
		return 0;
	for (i = 0; i < l->l_n; i++) {
		len = sizeof(it);
		if (getsockname(l->l_fds[i], (struct sockaddr *)&it, &len) ==
		    0 && status_same(&me, &it))
			return 1;
	}
	return 0;
}

/*
 * "ADDR:PORT" as a socket address, a numeric address only, so that no
 * name server is asked; NULL, logged, when it is none.
 */
static struct addrinfo *
status_lookup(const char *addr)
{
	struct addrinfo	 hints, *res;
	const char	*colon = strrchr(addr, ':'), *errstr;
	char		 host[256];
	size_t		 len;
	int		 error;

	if (colon == NULL || colon == addr || colon[1] == '\0') {
		log_warnx("status %s: not ADDR:PORT or a path", addr);
		return NULL;
	}
	(void)strtonum(colon + 1, 1, 65535, &errstr);
	if (errstr != NULL) {
		log_warnx("status %s: port %s: %s", addr, colon + 1, errstr);
		return NULL;
	}
	len = colon - addr;
	if (len >= sizeof(host)) {
		log_warnx("status %s: address too long", addr);
		return NULL;
	}
	/* "[::1]:9101" as in URLs. */
	if (len > 2 && addr[0] == '[' && addr[len - 1] == ']')
		(void)snprintf(host, sizeof(host), "%.*s", (int)len - 2,
		    addr + 1);
	else
		(void)snprintf(host, sizeof(host), "%.*s", (int)len, addr);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if ((error = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		log_warnx("status %s: %s", addr, gai_strerror(error));
		return NULL;
	}
	return res;
}

/* -n: the address as the start would take it, but not bound. */
int
status_check(const char *addr)
{
	struct sockaddr_un	 sun;
	struct addrinfo		*res;

	if (strchr(addr, '/') != NULL) {
		if (strlen(addr) >= sizeof(sun.sun_path)) {
			log_warnx("status %s: path too long", addr);
			return -1;
		}
		return 0;
	}
	if ((res = status_lookup(addr)) == NULL)
		return -1;
	freeaddrinfo(res);
	return 0;
}

static int
status_inet(const char *addr, const struct listener *l)
{
	struct addrinfo	*res;
	char		 name[64];
	int		 fd, on = 1;

	if ((res = status_lookup(addr)) == NULL)
		return -1;
	listen_name(res->ai_addr, name, sizeof(name));
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on,
	    sizeof(on)) == -1 || bind(fd, res->ai_addr, res->ai_addrlen) ==
	    -1) {
		log_warn("status %s", name);
		if (fd != -1)
			(void)close(fd);
		fd = -1;
	} else if (status_clash(fd, l)) {
		log_warnx("status %s: the service listens there", name);
		(void)close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/*
 * The listener, and the socketpair children report on (its sending end
 * in stats_fd, inherited by every handler and broker).  -1, logged, when
 * it cannot be had.
 */
int
status_open(struct status **stp, const char *addr, const struct listener *l)
{
	struct status	*st;
	int		 sv[2], on = 1, i;

	if ((st = calloc(1, sizeof(*st))) == NULL) {
		log_warn("status");
		return -1;
	}
	st->st_lfd = st->st_rfd = -1;
	TAILQ_INIT(&st->st_procs);
	for (i = 0; i < STATUS_MAXCLIENTS; i++)
		st->st_clients[i].sc_fd = -1;
	st->st_started = time(NULL);
	st->st_startns = stats_clock();
	*stp = st;
	st->st_lfd = strchr(addr, '/') != NULL ? status_unix(st, addr) :
	    status_inet(addr, l);
	if (st->st_lfd == -1)
		return -1;
	if (listen(st->st_lfd, STATUS_BACKLOG) == -1) {
		log_warn("status %s: listen", addr);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) == -1) {
		log_warn("socketpair");
		return -1;
	}
	st->st_rfd = sv[0];
	stats_fd = sv[1];
	/* The kernel says who sent each report. */
	if (setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) ==
	    -1) {
		log_warn("status: SO_PASSCRED");
		return -1;
	}
	return 0;
}

static void
status_drop(struct status_client *c)
{
	(void)close(c->sc_fd);
	c->sc_fd = -1;
	free(c->sc_out);
	c->sc_out = NULL;
}

void
status_close(struct status *st)
{
	struct status_proc	*sp;
	int			 i;

	if (st == NULL)
		return;
	for (i = 0; i < STATUS_MAXCLIENTS; i++)
		if (st->st_clients[i].sc_fd != -1)
			status_drop(&st->st_clients[i]);
	if (st->st_lfd != -1)
		(void)close(st->st_lfd);
	if (st->st_path[0] != '\0')
		(void)unlink(st->st_path);
	if (st->st_rfd != -1)
		(void)close(st->st_rfd);
	if (stats_fd != -1)
		(void)close(stats_fd);
	stats_fd = -1;
	while ((sp = TAILQ_FIRST(&st->st_procs)) != NULL) {
		TAILQ_REMOVE(&st->st_procs, sp, sp_entry);
		free(sp->sp_msg);
		free(sp);
	}
	free(st);
}

/* An answer: status line, headers, body; made whole, then written. */
static void
status_answer(struct status_client *c, int code, const char *type,
    const char *body, size_t blen, int head)
{
	const char	*what;
	FILE		*f;
	size_t		 len;

	what = code == 200 ? "OK" : code == 400 ? "Bad Request" :
	    code == 404 ? "Not Found" : code == 405 ? "Method Not Allowed" :
	    code == 431 ? "Request Header Fields Too Large" :
	    "Internal Server Error";
	free(c->sc_out);
	c->sc_out = NULL;
	c->sc_ooff = 0;
	if ((f = open_memstream(&c->sc_out, &len)) == NULL) {
		log_warn("status");
		return;
	}
	(void)fprintf(f, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
	    "Content-Length: %zu\r\nCache-Control: no-store\r\n"
	    "Connection: close\r\n\r\n", code, what, type, blen);
	if (!head && blen > 0)
		(void)fwrite(body, 1, blen, f);
	if (fclose(f) != 0) {
		free(c->sc_out);
		c->sc_out = NULL;
		return;
	}
	c->sc_olen = len;
}

static void
status_error(struct status_client *c, int code, const char *why)
{
	status_answer(c, code, "text/plain; charset=utf-8", why, strlen(why),
	    0);
}

/* A page of ours, made by fn into a memory stream. */
static void
status_page(struct status *st, struct supervisor *s, struct status_client *c,
    const char *path, int head)
{
	const char	*type = "text/plain; charset=utf-8";
	char		*body = NULL;
	size_t		 len = 0;
	FILE		*f;
	int		 r = 0;

	if ((f = open_memstream(&body, &len)) == NULL) {
		status_error(c, 500, "out of memory\n");
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		type = "text/plain; version=0.0.4; charset=utf-8";
		status_metrics(st, s, f);
	} else if (strcmp(path, "/status") == 0)
		status_text(st, s, f);
	else if (strcmp(path, "/status?json") == 0) {
		type = "application/json";
		r = status_json(st, s, f);
	} else
		r = 404;
	if (fclose(f) != 0)
		r = -1;
	if (r == 404)
		status_error(c, 404, "not found: try /metrics, /status or "
		    "/status?json\n");
	else if (r != 0)
		status_error(c, 500, "cannot make the page\n");
	else
		status_answer(c, 200, type, body, len, head);
	free(body);
}

/*
 * The request is whole (its empty line came) or will never be: answer.
 * Only the request line matters; the headers are read and ignored.
 */
static void
status_request(struct status *st, struct supervisor *s,
    struct status_client *c)
{
	char	 method[16], path[256], version[16];
	char	*eol;

	if ((eol = memchr(c->sc_req, '\n', c->sc_rlen)) == NULL) {
		status_error(c, 431, "request too long\n");
		return;
	}
	*eol = '\0';
	if (sscanf(c->sc_req, "%15s %255s %15s", method, path, version) !=
	    3 || strncmp(version, "HTTP/1.", 7) != 0) {
		status_error(c, 400, "not an HTTP/1 request\n");
		return;
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status_error(c, 405, "only GET and HEAD\n");
		return;
	}
	status_page(st, s, c, path, strcmp(method, "HEAD") == 0);
}

/* The end of the request: an empty line. */
static int
status_whole(const struct status_client *c)
{
	return memmem(c->sc_req, c->sc_rlen, "\r\n\r\n", 4) != NULL ||
	    memmem(c->sc_req, c->sc_rlen, "\n\n", 2) != NULL;
}

static void
status_read(struct status *st, struct supervisor *s, struct status_client *c)
{
	ssize_t	 n;

	n = read(c->sc_fd, c->sc_req + c->sc_rlen,
	    sizeof(c->sc_req) - c->sc_rlen);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		status_drop(c);
		return;
	}
	c->sc_rlen += n;
	if (status_whole(c))
		status_request(st, s, c);
	else if (c->sc_rlen == sizeof(c->sc_req))
		status_error(c, 431, "request too long\n");
	if (c->sc_fd != -1 && c->sc_out == NULL && c->sc_rlen ==
	    sizeof(c->sc_req))
		status_drop(c);
}

static void
status_write(struct status_client *c)
{
	ssize_t	 n;

	n = send(c->sc_fd, c->sc_out + c->sc_ooff, c->sc_olen - c->sc_ooff,
	    MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n == -1) {
		status_drop(c);
		return;
	}
	c->sc_ooff += n;
	if (c->sc_ooff == c->sc_olen) {
		(void)shutdown(c->sc_fd, SHUT_WR);
		status_drop(c);
	}
}

static void
status_accept(struct status *st)
{
	struct status_client	*c;
	int			 i, fd;

	for (i = 0; i < STATUS_MAXCLIENTS; i++)
		if (st->st_clients[i].sc_fd == -1)
			break;
	if (i == STATUS_MAXCLIENTS)
		return;
	if ((fd = accept4(st->st_lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) == -1)
		return;		/* gone, or out of descriptors: later */
	c = &st->st_clients[i];
	c->sc_fd = fd;
	c->sc_rlen = 0;
	c->sc_olen = c->sc_ooff = 0;
	clock_now(&c->sc_deadline);
	clock_add(&c->sc_deadline, STATUS_CLIENT_MS);
}

/* What the supervisor's poll(2) watches for us: up to STATUS_NPOLL. */
int
status_pollfds(struct status *st, struct pollfd *pfd)
{
	struct status_client	*c;
	int			 i, n = 0, room = 0;

	if (st == NULL)
		return 0;
	pfd[n].fd = st->st_rfd;
	pfd[n++].events = POLLIN;
	for (i = 0; i < STATUS_MAXCLIENTS; i++) {
		c = &st->st_clients[i];
		if (c->sc_fd == -1) {
			room = 1;
			continue;
		}
		pfd[n].fd = c->sc_fd;
		pfd[n++].events = c->sc_out != NULL ? POLLOUT : POLLIN;
	}
	/* Full: the next client waits in the listen queue. */
	pfd[n].fd = room ? st->st_lfd : -1;
	pfd[n++].events = POLLIN;
	return n;
}

/* Past their time: closed, answered or not. */
static void
status_late(struct status *st)
{
	struct timespec	 now;
	int		 i;

	clock_now(&now);
	for (i = 0; i < STATUS_MAXCLIENTS; i++)
		if (st->st_clients[i].sc_fd != -1 &&
		    clock_ms(&now, &st->st_clients[i].sc_deadline) <= 0)
			status_drop(&st->st_clients[i]);
}

/* After poll(2): pfd and n as status_pollfds() filled them. */
void
status_events(struct status *st, struct supervisor *s,
    const struct pollfd *pfd, int n)
{
	struct status_client	*c;
	int			 i, k = 1;

	if (st == NULL || n == 0)
		return;
	if (pfd[0].revents)
		status_reports(st);
	for (i = 0; i < STATUS_MAXCLIENTS; i++) {
		c = &st->st_clients[i];
		if (c->sc_fd == -1)
			continue;
		if (k >= n - 1 || pfd[k].fd != c->sc_fd) {
			k++;
			continue;
		}
		if (pfd[k].revents & POLLOUT)
			status_write(c);
		else if (pfd[k].revents)
			status_read(st, s, c);
		k++;
	}
	if (pfd[n - 1].revents & POLLIN)
		status_accept(st);
	status_late(st);
}

/* poll(2)'s timeout, given the supervisor's: the next client's end. */
int
status_timeout(struct status *st, int timeout)
{
	struct timespec	 now;
	long long	 ms;
	int		 i;

	if (st == NULL)
		return timeout;
	clock_now(&now);
	for (i = 0; i < STATUS_MAXCLIENTS; i++) {
		if (st->st_clients[i].sc_fd == -1)
			continue;
		ms = clock_ms(&now, &st->st_clients[i].sc_deadline);
		if (ms < 0)
			ms = 0;
		if (timeout == -1 || ms < timeout)
			timeout = (int)ms;
	}
	return timeout;
}
