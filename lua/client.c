/*
 * client.*: buffered, bounded reads and complete writes on the handler's
 * connection.  Every wait is a poll(2) bounded by the connection's timeout,
 * so an idle client cannot hold a handler for ever, and a wait to read by
 * the request's deadline too, so a client sending a byte at a time cannot
 * either; a client that goes away is nil and a message, never a signal.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "slualib.h"
#include "timeout.h"
#include "util.h"
#include "work.h"

#define CLIENT_CHUNK	16384

struct client {
	struct client_io c_io;
	int		 c_open;
	int		 c_timeout;	/* ms per wait; -1: none */
	size_t		 c_maxline;
	size_t		 c_maxread;	/* client.read() without a count */
	char		*c_buf;
	size_t		 c_off;		/* unread data: c_buf[c_off..c_len) */
	size_t		 c_len;
	size_t		 c_cap;
	int		 c_eof;
	int		 c_skipline;	/* drop up to the next newline */
	int		 c_reqtimeout;	/* s, client.deadline()'s default */
	int		 c_hasdeadline;
	struct timespec	 c_deadline;	/* for reads */
	int		 c_expired;	/* the first wait to read is over */
	int		 c_keepable;	/* the connection may be kept */
	int		 c_keep;	/* client.keepalive() was called */
	int		 c_drained;	/* the last read emptied the socket */
	int		 c_peerfd;	/* client.ip's socket, or -1: */
	int		 c_havepeer;	/* c_peer is the client's */
	struct sockaddr_storage c_peer;
	int		 c_tls;		/* client.tls */
	char		 c_proxy[64];	/* client.proxy_ip ("": nil) */
};

static struct client	 clt = { .c_peerfd = -1 };

void
client_open(const struct client_io *io, int timeout, size_t maxline,
    size_t maxread)
{
	clt.c_io = *io;
	clt.c_open = 1;
	clt.c_timeout = timeout > 0 ? timeout * 1000 : -1;
	clt.c_maxline = maxline;
	clt.c_maxread = maxread;
	clt.c_off = clt.c_len = 0;
	clt.c_eof = 0;
	clt.c_skipline = 0;
	clt.c_hasdeadline = 0;
	clt.c_expired = 0;
	clt.c_keepable = clt.c_keep = 0;
	clt.c_drained = 0;
	clt.c_peerfd = -1;
	clt.c_havepeer = 0;
	clt.c_tls = 0;
	clt.c_proxy[0] = '\0';
}

/* Whether client.keepalive() can keep this connection (tcp, not TLS). */
void
client_keepable(int yes)
{
	clt.c_keepable = yes;
}

int
client_kept(void)
{
	return clt.c_keep;
}

/* What the client sent that the script has not read: the next request. */
void
client_leftover(const char **buf, size_t *len)
{
	*buf = clt.c_buf + clt.c_off;
	*len = clt.c_skipline || clt.c_eof ? 0 : clt.c_len - clt.c_off;
}

/*
 * Reads past secs after start (0: none) fail with "timeout"; secs is also
 * what client.deadline() starts again.
 */
void
client_deadline(const struct timespec *start, int secs)
{
	clt.c_reqtimeout = secs;
	clt.c_hasdeadline = secs > 0;
	clt.c_deadline = *start;
	clt.c_deadline.tv_sec += secs;
}

/* The client was waited for before the script ran: no second wait. */
void
client_expire(void)
{
	clt.c_expired = 1;
}

/*
 * Whether the last read from the client emptied its socket (a read that
 * did not fill what it was given): then nothing is left to read but what
 * comes later, which the handler's epoll set reports (server/pending.c).
 */
int
client_drained(void)
{
	return clt.c_drained;
}

/* Whether the client closed its side, and all it sent was read. */
int
client_ended(void)
{
	return clt.c_eof;
}

/*
 * What was read from the client before the script ran, drained set when
 * that read emptied the socket.
 */
int
client_preload(const char *buf, size_t len, int drained)
{
	char	*nbuf;

	clt.c_drained = drained;
	if (len == 0)
		return 0;
	if (clt.c_cap < len) {
		if ((nbuf = realloc(clt.c_buf, len)) == NULL)
			return -1;
		clt.c_buf = nbuf;
		clt.c_cap = len;
	}
	memcpy(clt.c_buf, buf, len);
	clt.c_off = 0;
	clt.c_len = len;
	return 0;
}

/* Milliseconds a wait for events may take: -1 none, 0 the time is up. */
static int
client_waitms(short events)
{
	struct timespec	 now;
	long long	 left;

	if (events != POLLIN)
		return clt.c_timeout;
	if (clt.c_expired)
		return 0;
	if (!clt.c_hasdeadline)
		return clt.c_timeout;
	clock_now(&now);
	if ((left = clock_ms(&now, &clt.c_deadline)) <= 0)
		return 0;
	return clt.c_timeout >= 0 && clt.c_timeout < left ? clt.c_timeout :
	    (int)left;
}

void
client_close(void)
{
	clt.c_open = 0;
	/* A buffer grown by a large read is not kept for the next client. */
	if (clt.c_cap > 4 * CLIENT_CHUNK) {
		free(clt.c_buf);
		clt.c_buf = NULL;
		clt.c_cap = 0;
	}
	clt.c_off = clt.c_len = 0;
}

/* Wait until fd is ready; "timeout" when the client took too long. */
static const char *
client_wait(int fd, short events)
{
	struct pollfd	 pfd = { .fd = fd, .events = events };
	int		 r;

	work_flush();	/* batched jobs must not wait on a slow client */
	while ((r = poll(&pfd, 1, client_waitms(events))) == -1 &&
	    errno == EINTR)
		timeout_status_run();
	if (r == -1)
		return strerror(errno);
	if (r == 0) {
		clt.c_expired = 0;
		return "timeout";
	}
	return NULL;
}

/* Read more into the buffer: NULL, or why not. */
static const char *
client_fill(void)
{
	const char	*why;
	char		*nbuf;
	size_t		 ncap;
	long		 n;

	if (clt.c_off > 0 && clt.c_off == clt.c_len)
		clt.c_off = clt.c_len = 0;
	if (clt.c_cap - clt.c_len < CLIENT_CHUNK) {
		if (clt.c_off > 0) {
			memmove(clt.c_buf, clt.c_buf + clt.c_off,
			    clt.c_len - clt.c_off);
			clt.c_len -= clt.c_off;
			clt.c_off = 0;
		}
	}
	if (clt.c_cap - clt.c_len < CLIENT_CHUNK) {
		ncap = clt.c_cap ? clt.c_cap * 2 : 2 * CLIENT_CHUNK;
		if ((nbuf = realloc(clt.c_buf, ncap)) == NULL)
			return strerror(ENOMEM);
		clt.c_buf = nbuf;
		clt.c_cap = ncap;
	}
	for (;;) {
		n = clt.c_io.io_read(clt.c_io.io_ctx, clt.c_buf + clt.c_len,
		    clt.c_cap - clt.c_len);
		clt.c_drained = n < (long)(clt.c_cap - clt.c_len);
		if (n > 0) {
			clt.c_len += n;
			return NULL;
		}
		if (n == 0) {
			clt.c_eof = 1;
			return NULL;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return strerror(errno);
		if ((why = client_wait(clt.c_io.io_rfd, POLLIN)) != NULL)
			return why;
	}
}

/* Write all of buf: 0, or -1 with the reason in *why. */
static int
client_put(const char *buf, size_t len, const char **why)
{
	long	 n;

	while (len > 0) {
		n = clt.c_io.io_write(clt.c_io.io_ctx, buf, len);
		if (n > 0) {
			buf += n;
			len -= n;
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if ((*why = client_wait(clt.c_io.io_wfd, POLLOUT)) !=
			    NULL)
				return -1;
			continue;
		}
		*why = n == 0 ? "connection closed" : strerror(errno);
		return -1;
	}
	return 0;
}

/* print()'s writer while a client is open. */
int
client_writeall(void *ctx, const char *buf, size_t len)
{
	const char	*why;

	(void)ctx;
	if (!clt.c_open)
		return -1;
	return client_put(buf, len, &why);
}

static int
client_fail(lua_State *L, const char *why)
{
	lua_pushnil(L);
	lua_pushstring(L, why);
	return 2;
}

static int
client_notopen(lua_State *L)
{
	return client_fail(L, "no client");
}

static int
client_line(lua_State *L)
{
	const char	*why, *nl, *start;
	size_t		 len, scanned = 0;

	if (!clt.c_open)
		return client_notopen(L);
	for (;;) {
		nl = NULL;
		if (clt.c_len > clt.c_off + scanned)
			nl = memchr(clt.c_buf + clt.c_off + scanned, '\n',
			    clt.c_len - clt.c_off - scanned);
		if (nl != NULL && clt.c_skipline) {
			clt.c_off = nl + 1 - clt.c_buf;
			clt.c_skipline = 0;
			scanned = 0;
			continue;
		}
		if (nl != NULL)
			break;
		if (clt.c_skipline) {
			clt.c_off = clt.c_len;
			scanned = 0;
		} else
			scanned = clt.c_len - clt.c_off;
		if (scanned > clt.c_maxline) {
			/* Drop what we have and the rest of the line. */
			clt.c_off = clt.c_len;
			clt.c_skipline = 1;
			return client_fail(L, "line too long");
		}
		if (clt.c_eof) {
			if (clt.c_len == clt.c_off || clt.c_skipline) {
				lua_pushnil(L);
				return 1;
			}
			lua_pushlstring(L, clt.c_buf + clt.c_off,
			    clt.c_len - clt.c_off);
			clt.c_off = clt.c_len;
			return 1;
		}
		if ((why = client_fill()) != NULL)
			return client_fail(L, why);
	}
	start = clt.c_buf + clt.c_off;
	len = nl - start;
	clt.c_off += len + 1;
	if (len > clt.c_maxline)
		return client_fail(L, "line too long");
	if (len > 0 && start[len - 1] == '\r')
		len--;
	lua_pushlstring(L, start, len);
	return 1;
}

static int
client_read(lua_State *L)
{
	const char	*why;
	size_t		 want, have;

	if (!clt.c_open)
		return client_notopen(L);
	if (lua_isnoneornil(L, 1))
		want = clt.c_maxread + 1;
	else {
		lua_Number n = luaL_checknumber(L, 1);

		luaL_argcheck(L, n >= 0, 1, "negative count");
		want = n > (lua_Number)clt.c_maxread ? clt.c_maxread + 1 :
		    (size_t)n;
	}
	/* A skipped long line ends at its newline, not at this read. */
	clt.c_skipline = 0;
	while ((have = clt.c_len - clt.c_off) < want && !clt.c_eof) {
		if (have > clt.c_maxread)
			break;
		if ((why = client_fill()) != NULL)
			return client_fail(L, why);
	}
	if (have > clt.c_maxread && lua_isnoneornil(L, 1))
		return client_fail(L, "input too large");
	if (have == 0 && want > 0) {
		lua_pushnil(L);
		return 1;
	}
	if (have > want)
		have = want;
	lua_pushlstring(L, clt.c_buf + clt.c_off, have);
	clt.c_off += have;
	return 1;
}

static int
client_write(lua_State *L)
{
	const char	*s, *why;
	size_t		 len;

	s = luaL_checklstring(L, 1, &len);
	if (!clt.c_open)
		return client_notopen(L);
	if (client_put(s, len, &why) == -1)
		return client_fail(L, why);
	lua_pushnumber(L, (lua_Number)len);
	return 1;
}

/*
 * client.ip and client.port: from peer when the caller knows it, else
 * from the socket fd, when it is one; client.tls, and client.proxy_ip
 * (NULL: none).  They are read from here when the script names them
 * (client_field), so a connection whose script does not costs no
 * formatting, and the client table stays as the script found it.
 */
void
client_setpeer(int fd, const struct sockaddr_storage *peer)
{
	clt.c_peerfd = fd;
	clt.c_havepeer = peer != NULL;
	if (peer != NULL)
		clt.c_peer = *peer;
}

void
client_setconn(int tls, const char *proxy)
{
	clt.c_tls = tls;
	if (proxy == NULL)
		clt.c_proxy[0] = '\0';
	else
		(void)strlcpy(clt.c_proxy, proxy, sizeof(clt.c_proxy));
}

/* The dotted quad of a, in buf (INET_ADDRSTRLEN), without printf. */
static void
client_ntop4(const struct in_addr *a, char *buf)
{
	const unsigned char	*b = (const unsigned char *)&a->s_addr;
	char			*p = buf;
	unsigned		 v;
	int			 i;

	for (i = 0; i < 4; i++) {
		v = b[i];
		if (v >= 100)
			*p++ = '0' + v / 100;
		if (v >= 10)
			*p++ = '0' + v / 10 % 10;
		*p++ = '0' + v % 10;
		*p++ = i < 3 ? '.' : '\0';
	}
}

/* Push client.ip or, with port set, client.port: nil when unknown. */
static void
client_pushpeer(lua_State *L, int port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 ip[INET6_ADDRSTRLEN];

	if (!clt.c_havepeer && clt.c_peerfd != -1 &&
	    getpeername(clt.c_peerfd, (struct sockaddr *)&ss, &sslen) == 0) {
		clt.c_peer = ss;
		clt.c_havepeer = 1;
	}
	clt.c_peerfd = -1;
	if (clt.c_havepeer && clt.c_peer.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&clt.c_peer;

		if (port)
			lua_pushinteger(L, ntohs(sin->sin_port));
		else {
			client_ntop4(&sin->sin_addr, ip);
			lua_pushstring(L, ip);
		}
	} else if (clt.c_havepeer && clt.c_peer.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&clt.c_peer;

		if (port)
			lua_pushinteger(L, ntohs(sin6->sin6_port));
		else {
			(void)inet_ntop(AF_INET6, &sin6->sin6_addr, ip,
			    sizeof(ip));
			lua_pushstring(L, ip);
		}
	} else
		lua_pushnil(L);
}

/* client's __index: the connection's fields. */
static int
client_field(lua_State *L)
{
	const char	*k = lua_tostring(L, 2);

	if (lua_type(L, 2) != LUA_TSTRING)
		lua_pushnil(L);
	else if (strcmp(k, "ip") == 0 || strcmp(k, "port") == 0)
		client_pushpeer(L, k[0] == 'p');
	else if (strcmp(k, "tls") == 0)
		lua_pushboolean(L, clt.c_tls);
	else if (strcmp(k, "proxy_ip") == 0 && clt.c_proxy[0] != '\0')
		lua_pushstring(L, clt.c_proxy);
	else
		lua_pushnil(L);
	return 1;
}

/*
 * client.deadline([secs]): reads from now on are bounded by secs (by
 * default --request-timeout; 0: none), for a script that serves another
 * request on the same connection.
 */
static int
client_newdeadline(lua_State *L)
{
	struct timespec	 now;
	lua_Integer	 secs;
	int		 dflt = clt.c_reqtimeout;

	secs = luaL_optinteger(L, 1, dflt);
	luaL_argcheck(L, secs >= 0 && secs <= 86400, 1,
	    "seconds out of range");
	clock_now(&now);
	client_deadline(&now, (int)secs);
	clt.c_reqtimeout = dflt;
	return 0;
}

/*
 * client.keepalive(): this request is done and the connection stays open;
 * the script runs again, from the top, when the next request's first line
 * has come.  True when the connection can be kept.
 */
static int
client_keepalive(lua_State *L)
{
	if (!clt.c_open || !clt.c_keepable) {
		lua_pushboolean(L, 0);
		return 1;
	}
	clt.c_keep = 1;
	lua_pushboolean(L, 1);
	return 1;
}

static const luaL_Reg client_funcs[] = {
	{ "deadline",	client_newdeadline },
	{ "keepalive",	client_keepalive },
	{ "line",	client_line },
	{ "read",	client_read },
	{ "write",	client_write },
	{ NULL,		NULL }
};

/*
 * The table client is empty: its functions are its metatable's __index,
 * and the connection's fields (ip, port, ...) that table's __index.  A
 * connection names client on every request, and a handler checks what it
 * reached for changes when the connection ends (lua/isolate.c): an empty
 * table is checked at once, where one of functions is a walk of it.
 */
int
luaopen_slua_client(lua_State *L)
{
	lua_newtable(L);
	lua_pushvalue(L, -1);
	lua_setglobal(L, "client");
	lua_createtable(L, 0, 1);		/* client's metatable */
	lua_newtable(L);			/* its functions */
	luaL_register(L, NULL, client_funcs);
	lua_createtable(L, 0, 1);		/* theirs */
	lua_pushcfunction(L, client_field);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	lua_setfield(L, -2, "__index");
	lua_setmetatable(L, -2);
	return 1;
}
