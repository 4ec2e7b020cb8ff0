/*
 * The PROXY protocol header (haproxy's proxy-protocol.txt, versions 1 and
 * 2), read from a fresh connection before anything else: before the TLS
 * handshake, before the script.  The parser is a function of the bytes
 * alone, so it can be fuzzed (regress/fuzz/fuzz_proxy.c); the reader takes
 * off the socket exactly the header's bytes and not one more, since what
 * follows is the client's, or TLS's.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "proxy.h"
#include "server.h"
#include "util.h"

#define PROXY_V1_TOKENS	6	/* PROXY TCP4 src dst sport dport */

static const unsigned char proxy_sig[12] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int
proxy_bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* A port in decimal, 0 to 65535; -1 if not. */
static int
proxy_port(const char *s)
{
	size_t	 i, len = strlen(s);
	int	 port = 0;

	if (len == 0 || len > 5)
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port > 65535 ? -1 : port;
}

/* One address and port of a version 1 line into ss. */
static int
proxy_v1addr(int af, const char *ip, const char *port,
    struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;
	int			 p;

	if ((p = proxy_port(port)) == -1)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (af == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(p);
		return inet_pton(AF_INET, ip, &sin->sin_addr) == 1 ? 0 : -1;
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(p);
	return inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1 ? 0 : -1;
}

/* The words of a complete version 1 line, CRLF cut off. */
static int
proxy_v1line(char *line, struct proxy_hdr *ph, char *err, size_t errlen)
{
	char	*tok[PROXY_V1_TOKENS], *p = line, *t;
	int	 n = 0, af;

	while ((t = strsep(&p, " ")) != NULL && *t != '\0' &&
	    n < PROXY_V1_TOKENS)
		tok[n++] = t;
	if (n >= 2 && strcmp(tok[1], "UNKNOWN") == 0) {
		ph->ph_local = 1;	/* the rest, if any, is ignored */
		return 0;
	}
	if (t != NULL)
		return proxy_bad(err, errlen, "version 1 header: %s",
		    *t == '\0' ? "an empty field" : "too many fields");
	if (n < 2 || (strcmp(tok[1], "TCP4") != 0 &&
	    strcmp(tok[1], "TCP6") != 0))
		return proxy_bad(err, errlen, "version 1 header: unknown "
		    "protocol");
	if (n != PROXY_V1_TOKENS)
		return proxy_bad(err, errlen, "version 1 header: too few "
		    "fields");
	af = tok[1][3] == '4' ? AF_INET : AF_INET6;
	if (proxy_v1addr(af, tok[2], tok[4], &ph->ph_src) == -1)
		return proxy_bad(err, errlen, "version 1 header: bad source "
		    "address");
	if (proxy_v1addr(af, tok[3], tok[5], &ph->ph_dst) == -1)
		return proxy_bad(err, errlen, "version 1 header: bad "
		    "destination address");
	return 0;
}

/* "PROXY ... \r\n": text, at most PROXY_V1_MAX bytes. */
static int
proxy_v1(const unsigned char *buf, size_t len, struct proxy_hdr *ph,
    char *err, size_t errlen)
{
	char	 line[PROXY_V1_MAX];
	size_t	 i, end = 0;

	if (memcmp(buf, "PROXY ", len < 6 ? len : 6) != 0)
		return proxy_bad(err, errlen, "not a PROXY protocol header");
	for (i = 0; i < len && i < PROXY_V1_MAX; i++) {
		if (buf[i] == '\n') {
			if (i == 0 || buf[i - 1] != '\r')
				break;
			end = i + 1;
			break;
		}
		if (buf[i] == '\r' && (i + 1 == len || buf[i + 1] == '\n'))
			continue;
		if (buf[i] < 0x20 || buf[i] > 0x7e)
			return proxy_bad(err, errlen, "version 1 header: a "
			    "byte that is not text (0x%02x)", buf[i]);
	}
	if (end == 0 && i < len && buf[i] == '\n')
		return proxy_bad(err, errlen, "version 1 header: a line "
		    "ending without CRLF");
	if (end == 0) {
		if (len >= PROXY_V1_MAX)
			return proxy_bad(err, errlen, "version 1 header too "
			    "long (no CRLF in %d bytes)", PROXY_V1_MAX);
		return 0;
	}
	memcpy(line, buf, end - 2);
	line[end - 2] = '\0';
	ph->ph_version = 1;
	if (proxy_v1line(line, ph, err, errlen) == -1)
		return -1;
	return (int)end;
}

/* The addresses of a version 2 PROXY command, per family. */
static int
proxy_v2addr(const unsigned char *a, size_t alen, int fam,
    struct proxy_hdr *ph, char *err, size_t errlen)
{
	struct sockaddr_in	*src4 = (struct sockaddr_in *)&ph->ph_src;
	struct sockaddr_in	*dst4 = (struct sockaddr_in *)&ph->ph_dst;
	struct sockaddr_in6	*src6 = (struct sockaddr_in6 *)&ph->ph_src;
	struct sockaddr_in6	*dst6 = (struct sockaddr_in6 *)&ph->ph_dst;

	switch (fam) {
	case 0x1:	/* AF_INET: 4 + 4 + 2 + 2 */
		if (alen < 12)
			break;
		src4->sin_family = dst4->sin_family = AF_INET;
		memcpy(&src4->sin_addr, a, 4);
		memcpy(&dst4->sin_addr, a + 4, 4);
		memcpy(&src4->sin_port, a + 8, 2);
		memcpy(&dst4->sin_port, a + 10, 2);
		return 0;
	case 0x2:	/* AF_INET6: 16 + 16 + 2 + 2 */
		if (alen < 36)
			break;
		src6->sin6_family = dst6->sin6_family = AF_INET6;
		memcpy(&src6->sin6_addr, a, 16);
		memcpy(&dst6->sin6_addr, a + 16, 16);
		memcpy(&src6->sin6_port, a + 32, 2);
		memcpy(&dst6->sin6_port, a + 34, 2);
		return 0;
	default:
		/* UNSPEC, and a client on a Unix socket: no address. */
		ph->ph_local = 1;
		return 0;
	}
	return proxy_bad(err, errlen, "version 2 header: %zu bytes of "
	    "address, too few for the family", alen);
}

/* The 12-byte signature, version and command, family, length, addresses
   and TLVs (which slua skips). */
static int
proxy_v2(const unsigned char *buf, size_t len, struct proxy_hdr *ph,
    char *err, size_t errlen)
{
	size_t	 alen;
	int	 fam, proto;

	if (memcmp(buf, proxy_sig, len < 12 ? len : 12) != 0)
		return proxy_bad(err, errlen, "not a PROXY protocol header");
	if (len < 16)
		return 0;
	if (buf[12] >> 4 != 2)
		return proxy_bad(err, errlen, "version 2 header: version %d",
		    buf[12] >> 4);
	if ((buf[12] & 0xf) > 1)
		return proxy_bad(err, errlen, "version 2 header: unknown "
		    "command %d", buf[12] & 0xf);
	fam = buf[13] >> 4;
	proto = buf[13] & 0xf;
	alen = (size_t)buf[14] << 8 | buf[15];
	if (16 + alen > PROXY_V2_MAX)
		return proxy_bad(err, errlen, "version 2 header too long "
		    "(%zu bytes, at most %d)", 16 + alen, PROXY_V2_MAX);
	if (len < 16 + alen)
		return 0;
	ph->ph_version = 2;
	if ((buf[12] & 0xf) == 0) {
		ph->ph_local = 1;	/* LOCAL: the balancer's own */
		return (int)(16 + alen);
	}
	if (fam > 3 || proto > 2)
		return proxy_bad(err, errlen, "version 2 header: unknown "
		    "address family or protocol (0x%02x)", buf[13]);
	if (proto == 2)
		return proxy_bad(err, errlen, "version 2 header: a datagram "
		    "protocol");
	if (proxy_v2addr(buf + 16, alen, fam, ph, err, errlen) == -1)
		return -1;
	return (int)(16 + alen);
}

/*
 * The header at the start of buf: its length once buf holds it whole, 0
 * while buf could still begin one, -1 (why in err) when it cannot.
 */
int
proxy_parse(const unsigned char *buf, size_t len, struct proxy_hdr *ph,
    char *err, size_t errlen)
{
	memset(ph, 0, sizeof(*ph));
	if (len == 0)
		return 0;
	if (buf[0] == 'P')
		return proxy_v1(buf, len, ph, err, errlen);
	if (buf[0] == proxy_sig[0])
		return proxy_v2(buf, len, ph, err, errlen);
	return proxy_bad(err, errlen, "not a PROXY protocol header");
}

/* Until fd has input, or the deadline; -1 and why in err. */
static int
proxy_wait(int fd, const struct timespec *deadline, int timeout, char *err,
    size_t errlen)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	struct timespec	 now;
	long long	 ms;
	int		 r;

	for (;;) {
		clock_now(&now);
		if ((ms = clock_ms(&now, deadline)) <= 0)
			return proxy_bad(err, errlen, "no complete header "
			    "within %d s", timeout);
		if ((r = poll(&pfd, 1, (int)ms)) > 0)
			return 0;
		if (r == -1 && errno != EINTR)
			return proxy_bad(err, errlen, "poll: %s",
			    strerror(errno));
	}
}

/* The n bytes just seen with MSG_PEEK, off the socket. */
static int
proxy_take(int fd, unsigned char *buf, size_t n, char *err, size_t errlen)
{
	ssize_t	 r;

	while (n > 0) {
		if ((r = read(fd, buf, n)) > 0) {
			buf += r;
			n -= r;
			continue;
		}
		if (r == -1 && errno == EINTR)
			continue;
		return proxy_bad(err, errlen, "read: %s", r == 0 ?
		    "end of input" : strerror(errno));
	}
	return 0;
}

/*
 * Read the header from fd (non-blocking) within timeout seconds: 0 and
 * *ph, or -1 and why in err.  Whatever is queued is peeked at, and only
 * the header's bytes taken: the parser says where it ends, or that all
 * of what it saw is header so far.  A balancer sends the header as it
 * connects, so it is usually there already: two system calls, no wait.
 */
int
proxy_read(int fd, int timeout, struct proxy_hdr *ph, char *err,
    size_t errlen)
{
	unsigned char	 buf[PROXY_V2_MAX];
	struct timespec	 deadline;
	size_t		 have = 0, take;
	ssize_t		 n;
	int		 r;

	clock_now(&deadline);
	clock_add(&deadline, timeout * 1000LL);
	for (;;) {
		n = recv(fd, buf + have, sizeof(buf) - have, MSG_PEEK);
		if (n == -1 && (errno == EINTR || errno == EAGAIN)) {
			if (proxy_wait(fd, &deadline, timeout, err,
			    errlen) == -1)
				return -1;
			continue;
		}
		if (n == -1)
			return proxy_bad(err, errlen, "recv: %s",
			    strerror(errno));
		if (n == 0)
			return proxy_bad(err, errlen, "closed after %zu bytes, "
			    "before the header ended", have);
		if ((r = proxy_parse(buf, have + n, ph, err, errlen)) == -1)
			return -1;
		take = r > 0 ? r - have : (size_t)n;
		if (proxy_take(fd, buf + have, take, err, errlen) == -1)
			return -1;
		have += take;
		if (r > 0)
			return 0;
		if (have == sizeof(buf))	/* the parser bounds it first */
			return proxy_bad(err, errlen, "header too long");
	}
}

/* The address alone, as client.ip shows it. */
static void
proxy_ipname(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	const struct sockaddr_in	*sin = (const void *)ss;
	const struct sockaddr_in6	*sin6 = (const void *)ss;

	buf[0] = '\0';
	if (ss->ss_family == AF_INET)
		(void)inet_ntop(AF_INET, &sin->sin_addr, buf, len);
	else if (ss->ss_family == AF_INET6)
		(void)inet_ntop(AF_INET6, &sin6->sin6_addr, buf, len);
}

/*
 * A connection to a --proxy-protocol listener: its header, within the
 * client timeout or PROXY_TIMEOUT, whichever is shorter.  *ss and peer
 * become the client's (unless the header is LOCAL or UNKNOWN: a health
 * check), balancer the address the connection came from.  -1, logged,
 * when there is no valid header: the connection is then closed, unseen
 * by the script.
 */
int
proxy_accept(int fd, int timeout, struct sockaddr_storage *ss, char *peer,
    size_t peerlen, char *balancer, size_t balancerlen)
{
	struct proxy_hdr	 ph;
	char			 err[256];

	if (timeout <= 0 || timeout > PROXY_TIMEOUT)
		timeout = PROXY_TIMEOUT;
	if (proxy_read(fd, timeout, &ph, err, sizeof(err)) == -1) {
		log_warnx("%s: PROXY protocol: %s", peer, err);
		return -1;
	}
	proxy_ipname(ss, balancer, balancerlen);
	if (ph.ph_local)
		return 0;
	*ss = ph.ph_src;
	listen_name((struct sockaddr *)ss, peer, peerlen);
	return 0;
}
