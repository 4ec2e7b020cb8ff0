/*
 * libFuzzer target: the PROXY protocol header parser (server/proxy.c),
 * which reads what any client of a --proxy-protocol listener sends.
 *
 * The input is what the client sends.  Besides the sanitizers' crashes,
 * the properties the reader relies on: the answer for the whole input
 * decides those for its beginnings (a header of L bytes is "more, please"
 * for every shorter beginning and the same header at L bytes; a rejected
 * beginning stays rejected however much follows), no header is longer
 * than the bounds, and proxy_read() over a socket takes exactly the
 * header's bytes, leaving the rest to whoever reads next.
 */
#include <sys/socket.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "proxy.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
fail(const char *what, size_t at)
{
	(void)fprintf(stderr, "fuzz_proxy: %s (at %zu bytes)\n", what, at);
	abort();
}

static void
prefixes(const uint8_t *data, size_t size, int whole,
    const struct proxy_hdr *ph)
{
	struct proxy_hdr	 p;
	char			 err[256];
	size_t			 k;
	int			 r, rejected = 0;

	for (k = 0; k <= size; k++) {
		r = proxy_parse(data, k, &p, err, sizeof(err));
		if (r == -1) {
			rejected = 1;
			if (whole != -1)
				fail("a beginning rejected, the whole not", k);
			continue;
		}
		if (rejected)
			fail("accepted again after a rejection", k);
		if (r > 0 && (size_t)r != k)
			fail("a header found before its end", k);
		if (r > 0 && (whole <= 0 || memcmp(&p, ph, sizeof(p)) != 0))
			fail("another header in a beginning", k);
		if (r > 0)
			return;
	}
}

/* Through a socket, as a handler reads it. */
static void
socket_read(const uint8_t *data, size_t size, int whole)
{
	struct proxy_hdr	 ph;
	char			 err[256], rest[PROXY_V2_MAX + 64];
	int			 sv[2], r;
	ssize_t			 n;

	if (size > sizeof(rest) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == -1)
		return;
	if (write(sv[0], data, size) != (ssize_t)size)
		abort();
	/* So an incomplete header ends at once, not at the deadline. */
	(void)shutdown(sv[0], SHUT_WR);
	r = proxy_read(sv[1], 1, &ph, err, sizeof(err));
	if ((r == 0) != (whole > 0))
		fail("the socket's reader and the parser differ", size);
	if (r == 0) {
		n = read(sv[1], rest, sizeof(rest));
		if (n != (ssize_t)(size - whole) ||
		    memcmp(rest, data + whole, n) != 0)
			fail("the reader took more or less than the header",
			    size);
	}
	(void)close(sv[0]);
	(void)close(sv[1]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_hdr	 ph;
	char			 err[256];
	int			 whole;

	if (size == 0)
		return 0;
	if (size > PROXY_V2_MAX + 16)
		size = PROXY_V2_MAX + 16;
	whole = proxy_parse(data, size, &ph, err, sizeof(err));
	if (whole > PROXY_V2_MAX || (data[0] == 'P' && whole > PROXY_V1_MAX))
		fail("a header over the bounds", size);
	if (whole == -1 && err[0] == '\0')
		fail("a rejection without a reason", size);
	prefixes(data, size, whole, &ph);
	socket_read(data, size, whole);
	return 0;
}
