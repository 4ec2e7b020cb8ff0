/*
 * TLS connections on OpenSSL 3.  The supervisor makes each generation's
 * context (server/tlsctx.c) before privileges are dropped; each handler
 * runs the handshake on the accepted socket, each wait bounded by
 * --timeout and the whole by --tls-timeout, so a client sending its
 * ClientHello a byte at a time holds the handler no longer.  A failed
 * handshake costs a log line and the connection, never the handler.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "openssl.h"
#include "server.h"
#include "util.h"

/* The last OpenSSL error, as text, and the queue cleared. */
const char *
tls_error(void)
{
	static char	 buf[256];
	unsigned long	 e;

	if ((e = ERR_get_error()) == 0)
		return "unknown error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

/* Map an SSL_get_error() result onto read(2)'s conventions. */
static long
tls_result(SSL *ssl, int r)
{
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	case SSL_ERROR_SYSCALL:
		if (errno == 0)
			return 0;
		return -1;
	default:
		ERR_clear_error();
		errno = EPROTO;
		return -1;
	}
}

long
tls_read(void *ctx, char *buf, size_t len)
{
	SSL	*ssl = ctx;
	int	 r;

	errno = 0;
	if (len > 1 << 30)
		len = 1 << 30;
	if ((r = SSL_read(ssl, buf, (int)len)) > 0)
		return r;
	return tls_result(ssl, r);
}

long
tls_write(void *ctx, const char *buf, size_t len)
{
	SSL	*ssl = ctx;
	int	 r;

	errno = 0;
	if (len > 1 << 30)
		len = 1 << 30;
	if ((r = SSL_write(ssl, buf, (int)len)) > 0)
		return r;
	if (tls_result(ssl, r) == 0) {
		errno = EPIPE;
		return -1;
	}
	return -1;
}

/* Milliseconds a wait of the handshake may take: -1 none, 0 over. */
static int
tls_waitms(const struct timespec *end, int timeout)
{
	struct timespec	 now;
	long long	 left;

	clock_now(&now);
	if ((left = clock_ms(&now, end)) <= 0)
		return 0;
	return timeout > 0 && timeout * 1000LL < left ? timeout * 1000 :
	    (int)left;
}

/*
 * The handshake on non-blocking fd, each wait bounded by timeout and the
 * whole by total seconds; NULL and why in err on failure.
 */
SSL *
tls_accept(SSL_CTX *ctx, int fd, int timeout, int total, char *err,
    size_t errlen)
{
	struct pollfd	 pfd = { .fd = fd };
	struct timespec	 end;
	SSL		*ssl;
	int		 r, e;

	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1) {
		(void)snprintf(err, errlen, "%s", tls_error());
		SSL_free(ssl);
		return NULL;
	}
	clock_now(&end);
	end.tv_sec += total;
	for (;;) {
		ERR_clear_error();
		if ((r = SSL_accept(ssl)) == 1)
			return ssl;
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			pfd.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			pfd.events = POLLOUT;
		else {
			if (e == SSL_ERROR_SYSCALL && errno == 0)
				(void)snprintf(err, errlen, "closed during "
				    "the handshake");
			else if (e == SSL_ERROR_SYSCALL)
				(void)snprintf(err, errlen, "%s",
				    strerror(errno));
			else
				(void)snprintf(err, errlen, "%s",
				    tls_error());
			break;
		}
		while ((r = poll(&pfd, 1, tls_waitms(&end, timeout))) == -1 &&
		    errno == EINTR)
			;
		if (r == 0) {
			(void)snprintf(err, errlen, "handshake timeout");
			break;
		}
	}
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

void
tls_close(SSL *ssl)
{
	if (ssl == NULL)
		return;
	(void)SSL_shutdown(ssl);	/* one try: the socket is non-blocking */
	ERR_clear_error();
	SSL_free(ssl);
}
