/*
 * The status figure's scraper, for bench.sh: GET /metrics from slua's
 * --status listener every `ms' milliseconds until TERM, then print how many
 * answers began "HTTP/1.1 200".  A C loop, so that the scraper's own CPU
 * time (a curl process costs several times more) is not what the figure
 * measures.
 *
 *	scrape port ms
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

static volatile sig_atomic_t	 quit;

static void
onterm(int sig)
{
	(void)sig;
	quit = 1;
}

/* One scrape: 1 when it was answered 200. */
static int
scrape(const struct sockaddr_in *sin)
{
	static const char	 req[] = "GET /metrics HTTP/1.1\r\n"
				    "Host: 127.0.0.1\r\n\r\n";
	char			 buf[16384], head[13];
	ssize_t			 n;
	size_t			 got = 0;
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		err(1, "socket");
	if (connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) == -1 ||
	    write(fd, req, sizeof(req) - 1) != (ssize_t)sizeof(req) - 1) {
		(void)close(fd);
		return 0;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		if (got < sizeof(head) - 1) {
			size_t	 k = sizeof(head) - 1 - got;

			memcpy(head + got, buf, (size_t)n < k ? (size_t)n : k);
		}
		got += n;
	}
	(void)close(fd);
	head[sizeof(head) - 1] = '\0';
	return got >= sizeof(head) - 1 &&
	    strcmp(head, "HTTP/1.1 200") == 0;
}

int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct sigaction	 sa;
	struct timespec		 pause;
	long			 port, ms, ok = 0;

	if (argc != 3)
		errx(100, "usage: scrape port ms");
	port = number(argv[1], 1, 65535, "port");
	ms = number(argv[2], 1, 10000, "ms");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = onterm;
	if (sigaction(SIGTERM, &sa, NULL) == -1)
		err(1, "sigaction");
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	pause.tv_sec = ms / 1000;
	pause.tv_nsec = ms % 1000 * 1000000L;
	while (!quit) {
		ok += scrape(&sin);
		(void)nanosleep(&pause, NULL);
	}
	printf("%ld\n", ok);
	return 0;
}
