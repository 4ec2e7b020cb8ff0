/*
 * The PROXY protocol, versions 1 (a text line) and 2 (binary), as a
 * balancer such as haproxy sends it first on each connection it opens to
 * a backend (--proxy-protocol): who the real client is.
 */
#ifndef SLUA_PROXY_H
#define SLUA_PROXY_H

#include <sys/socket.h>

#include <stddef.h>

#define PROXY_V1_MAX	107		/* the longest line, CRLF included */
#define PROXY_V2_MAX	(16 + 2048)	/* slua's bound: the spec's is 64k */
#define PROXY_TIMEOUT	5		/* seconds at most for the header */

struct proxy_hdr {
	int			 ph_version;	/* 1 or 2 */
	int			 ph_local;	/* LOCAL, UNKNOWN: no client */
	struct sockaddr_storage	 ph_src;	/* the client, unless local */
	struct sockaddr_storage	 ph_dst;
};

int	proxy_parse(const unsigned char *, size_t, struct proxy_hdr *,
	    char *, size_t);
int	proxy_read(int, int, struct proxy_hdr *, char *, size_t);
int	proxy_accept(int, int, struct sockaddr_storage *, char *, size_t,
	    char *, size_t);

#endif
