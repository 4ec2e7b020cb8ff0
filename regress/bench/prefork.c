/*
 * The tcp baseline: the least a prefork HTTP server can do.  N processes
 * block in accept() on one listening socket; each reads the request up to
 * its blank line, writes a fixed HTTP/1.0 reply and closes.  slua's bench
 * handler (http.lua) sends the same bytes, so the two differ only in what
 * slua adds: the Lua state, the client API and, with a worker, the job.
 *
 *	prefork port nprocs
 *
 * Listens on 127.0.0.1 only.  TERM or INT stops the parent, which stops
 * its children; a child whose parent dies is killed by the kernel.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "benchutil.h"

#define PREFORK_MAX	64
#define PREFORK_REQ	8192

static const char	 reply[] =
    "HTTP/1.0 200 OK\r\n"
    "Content-Type: text/plain\r\n"
    "Content-Length: 6\r\n"
    "Connection: close\r\n"
    "\r\n"
    "hello\n";

static volatile sig_atomic_t	 quit;

static void
onsignal(int sig)
{
	(void)sig;
	quit = 1;
}

/* Has buf[0..len) reached the blank line that ends the request head? */
static int
request_done(const char *buf, size_t len)
{
	size_t	 i;

	for (i = 1; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i - 1] == '\n' ||
		    (i >= 3 && memcmp(buf + i - 3, "\r\n\r\n", 4) == 0))
			return 1;
	}
	return 0;
}

static void
serve(int fd)
{
	char	 buf[PREFORK_REQ];
	size_t	 len = 0, off;
	ssize_t	 n;

	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return;		/* the client left early */
		len += n;
		if (request_done(buf, len))
			break;
	}
	for (off = 0; off < sizeof(reply) - 1; off += n) {
		n = send(fd, reply + off, sizeof(reply) - 1 - off,
		    MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR) {
			n = 0;
			continue;
		}
		if (n == -1)
			return;
	}
}

static void __attribute__((noreturn))
child(int lfd, pid_t parent)
{
	int	 fd;

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
		err(111, "prctl");
	if (getppid() != parent)
		_exit(0);
	if (signal(SIGTERM, SIG_DFL) == SIG_ERR ||
	    signal(SIGINT, SIG_DFL) == SIG_ERR)
		err(111, "signal");
	for (;;) {
		if ((fd = accept(lfd, NULL, NULL)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* Out of descriptors: wait instead of spinning. */
			warn("accept");
			if (usleep(100 * 1000) == -1 && errno != EINTR)
				err(111, "usleep");
			continue;
		}
		serve(fd);
		if (close(fd) == -1)
			warn("close");
	}
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct sigaction	 sa;
	pid_t			 kids[PREFORK_MAX], parent = getpid();
	int			 lfd, on = 1, i, n, status;

	if (argc != 3) {
		fprintf(stderr, "usage: prefork port nprocs\n");
		return 100;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(number(argv[1], 1, 65535, "port"));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	n = number(argv[2], 1, PREFORK_MAX, "nprocs");

	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(111, "socket");
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) == -1)
		err(111, "SO_REUSEADDR");
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1)
		err(111, "bind 127.0.0.1:%s", argv[1]);
	/* The same backlog as slua's listeners. */
	if (listen(lfd, 1024) == -1)
		err(111, "listen");

	/* Handlers before the fork, so no signal is lost in between. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onsignal;
	if (sigemptyset(&sa.sa_mask) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1 ||
	    sigaction(SIGINT, &sa, NULL) == -1)
		err(111, "sigaction");
	for (i = 0; i < n; i++) {
		if ((kids[i] = fork()) == -1)
			err(111, "fork");
		if (kids[i] == 0)
			child(lfd, parent);
	}
	if (close(lfd) == -1)
		err(111, "close");

	while (!quit)
		if (pause() == -1 && errno != EINTR)
			err(111, "pause");
	for (i = 0; i < n; i++)
		if (kill(kids[i], SIGTERM) == -1 && errno != ESRCH)
			warn("kill %d", (int)kids[i]);
	for (i = 0; i < n; i++)
		while (waitpid(kids[i], &status, 0) == -1)
			if (errno != EINTR) {
				warn("waitpid");
				break;
			}
	return 0;
}
