/*
 * The jobs, latency and payload baselines: slua's process shape with
 * nothing else in it.
 *
 *	relay jobs count inflight [workers]
 *	relay copy mib rounds
 *
 * jobs: a client, a broker and a pool of workers, joined by AF_UNIX
 * SOCK_DGRAM socketpairs (client-broker, and broker-worker for each
 * worker).  The client keeps `inflight' jobs outstanding; the broker hands
 * each job to an idle worker only, one job per datagram, queueing the rest;
 * a worker echoes the job back; the broker routes the answer to the client.
 * Prints "<jobs/s> jobs/s <us> us/job" over `count' jobs, timed in the
 * client after an untimed warm-up.
 *
 * copy: `mib' MiB sent through one socketpair in 64 KiB datagrams to a
 * second process, which sends the same bytes back; `rounds' times after
 * one untimed round.  Prints "<MB/s> MB/s", counting both directions
 * (10^6 bytes to the MB).
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchutil.h"

#define RELAY_MAXWORKERS	16
#define RELAY_JOB		64	/* bytes in a job: an id and filler */
#define COPY_DGRAM		(64 * 1024)

struct job {
	uint64_t	 id;
	char		 pad[RELAY_JOB - sizeof(uint64_t)];
};

static void
pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) == -1)
		err(111, "socketpair");
}

static void
xclose(int fd)
{
	if (close(fd) == -1)
		err(111, "close");
}

/* A child that dies with its parent, so a killed bench leaves nothing. */
static pid_t
spawn(void)
{
	pid_t	 parent = getpid(), pid;

	if ((pid = fork()) == -1)
		err(111, "fork");
	if (pid == 0) {
		if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1)
			err(111, "prctl");
		if (getppid() != parent)
			_exit(1);
	}
	return pid;
}

static void
xsend(int fd, const void *buf, size_t len)
{
	ssize_t	 n;

	while ((n = send(fd, buf, len, 0)) == -1 && errno == EINTR)
		;
	if (n == -1)
		err(111, "send");
	if ((size_t)n != len)
		errx(111, "send: short datagram");
}

/* One datagram's length; with MSG_DONTWAIT, -1 when none is waiting. */
static ssize_t
xrecv(int fd, void *buf, size_t len, int flags)
{
	ssize_t	 n;

	while ((n = recv(fd, buf, len, flags)) == -1 && errno == EINTR)
		;
	if (n == -1 && (flags & MSG_DONTWAIT) && errno == EAGAIN)
		return -1;
	if (n == -1)
		err(111, "recv");
	return n;
}

static void __attribute__((noreturn))
worker(int fd)
{
	struct job	 j;

	/* A datagram socket sees no EOF: the broker's exit kills us. */
	for (;;) {
		if (xrecv(fd, &j, sizeof(j), 0) != (ssize_t)sizeof(j))
			errx(111, "worker: bad job");
		xsend(fd, &j, sizeof(j));
	}
}

/*
 * The broker: jobs from the client wait in a ring until a worker is idle;
 * answers go straight back to the client.  Every socket is drained on each
 * poll round, as any event-driven broker would.
 */
static void __attribute__((noreturn))
broker(int cfd, int *wfd, int nw, size_t cap)
{
	struct pollfd	 pfd[RELAY_MAXWORKERS + 1];
	struct job	*ring, j;
	size_t		 head = 0, len = 0;
	int		 idle[RELAY_MAXWORKERS], nidle = 0, i;

	if ((ring = calloc(cap, sizeof(*ring))) == NULL)
		err(111, "broker");
	pfd[0].fd = cfd;
	pfd[0].events = POLLIN;
	for (i = 0; i < nw; i++) {
		pfd[i + 1].fd = wfd[i];
		pfd[i + 1].events = POLLIN;
		idle[nidle++] = i;
	}
	for (;;) {
		if (poll(pfd, nw + 1, -1) == -1) {
			if (errno == EINTR)
				continue;
			err(111, "poll");
		}
		for (i = 0; i < nw; i++) {
			if (!(pfd[i + 1].revents & POLLIN))
				continue;
			while (xrecv(wfd[i], &j, sizeof(j), MSG_DONTWAIT) ==
			    (ssize_t)sizeof(j)) {
				xsend(cfd, &j, sizeof(j));
				if (len > 0) {
					xsend(wfd[i], &ring[head], sizeof(j));
					head = (head + 1) % cap;
					len--;
				} else
					idle[nidle++] = i;
			}
		}
		if (pfd[0].revents & POLLIN) {
			while (xrecv(cfd, &j, sizeof(j), MSG_DONTWAIT) ==
			    (ssize_t)sizeof(j)) {
				if (nidle > 0) {
					xsend(wfd[idle[--nidle]], &j,
					    sizeof(j));
					continue;
				}
				if (len == cap)
					errx(111, "broker: more jobs than "
					    "were allowed in flight");
				ring[(head + len) % cap] = j;
				len++;
			}
		}
	}
}

/* The client: `count' jobs, `inflight' of them outstanding at a time. */
static void
client(int fd, long count, long inflight)
{
	struct job	 j;
	long		 sent = 0, got = 0;

	memset(&j, 'j', sizeof(j));
	while (got < count) {
		while (sent < count && sent - got < inflight) {
			j.id = sent++;
			xsend(fd, &j, sizeof(j));
		}
		if (xrecv(fd, &j, sizeof(j), 0) != (ssize_t)sizeof(j))
			errx(111, "client: bad answer");
		got++;
	}
}

static int
jobs(long count, long inflight, int nw)
{
	double		 t0, t;
	pid_t		 broker_pid;
	int		 cb[2], wb[RELAY_MAXWORKERS][2], wfd[RELAY_MAXWORKERS];
	int		 i, k, status;

	pair(cb);
	for (i = 0; i < nw; i++) {
		pair(wb[i]);
		wfd[i] = wb[i][0];
	}
	if ((broker_pid = spawn()) == 0) {
		xclose(cb[0]);
		for (i = 0; i < nw; i++) {
			if (spawn() == 0) {
				xclose(cb[1]);
				for (k = 0; k <= i; k++)
					xclose(wb[k][0]);
				worker(wb[i][1]);
			}
			xclose(wb[i][1]);
		}
		broker(cb[1], wfd, nw, inflight);
	}
	xclose(cb[1]);
	for (i = 0; i < nw; i++) {
		xclose(wb[i][0]);
		xclose(wb[i][1]);
	}

	/* Untimed, as slua's jobs.lua does: every worker is up after it. */
	client(cb[0], count < 2000 ? count : 2000, inflight);
	t0 = now();
	client(cb[0], count, inflight);
	t = now() - t0;
	printf("%.0f jobs/s %.2f us/job\n", count / t, t * 1e6 / count);
	if (fflush(stdout) == EOF)
		err(111, "stdout");

	/* Datagram sockets carry no EOF; the workers die with the broker. */
	if (kill(broker_pid, SIGKILL) == -1)
		err(111, "kill");
	if (waitpid(broker_pid, &status, 0) == -1)
		err(111, "waitpid");
	return 0;
}

static void
sendall(int fd, const char *buf, size_t len)
{
	size_t	 off, n;

	for (off = 0; off < len; off += n) {
		n = len - off < COPY_DGRAM ? len - off : COPY_DGRAM;
		xsend(fd, buf + off, n);
	}
}

static void
recvall(int fd, char *buf, size_t len)
{
	size_t	 off;
	ssize_t	 n;

	for (off = 0; off < len; off += n)
		if ((n = xrecv(fd, buf + off, len - off < COPY_DGRAM ?
		    len - off : COPY_DGRAM, 0)) == 0)
			errx(111, "copy: empty datagram");
}

static int
copy(size_t size, long rounds)
{
	char	*buf;
	double	 t0, t;
	pid_t	 pid;
	long	 r;
	int	 sv[2], status;

	if ((buf = malloc(size)) == NULL)
		err(111, "copy");
	pair(sv);
	if ((pid = spawn()) == 0) {
		xclose(sv[0]);
		memset(buf, 0, size);
		for (r = 0; r <= rounds; r++) {
			recvall(sv[1], buf, size);
			sendall(sv[1], buf, size);
		}
		_exit(0);
	}
	xclose(sv[1]);
	memset(buf, 'p', size);

	/* The untimed round faults in both buffers and the socket's. */
	sendall(sv[0], buf, size);
	recvall(sv[0], buf, size);
	t0 = now();
	for (r = 0; r < rounds; r++) {
		sendall(sv[0], buf, size);
		recvall(sv[0], buf, size);
	}
	t = now() - t0;
	if (buf[0] != 'p' || buf[size - 1] != 'p')
		errx(111, "copy: the bytes came back changed");
	printf("%.0f MB/s\n", 2.0 * size * rounds / t / 1e6);
	if (fflush(stdout) == EOF)
		err(111, "stdout");
	if (waitpid(pid, &status, 0) == -1)
		err(111, "waitpid");
	free(buf);
	return 0;
}

static void __attribute__((noreturn))
usage(void)
{
	fprintf(stderr, "usage: relay jobs count inflight [workers]\n"
	    "       relay copy mib rounds\n");
	exit(100);
}

int
main(int argc, char *argv[])
{
	if (argc >= 4 && argc <= 5 && strcmp(argv[1], "jobs") == 0)
		return jobs(number(argv[2], 1, 1000000000, "count"),
		    number(argv[3], 1, 1000000, "inflight"),
		    argc == 5 ? number(argv[4], 1, RELAY_MAXWORKERS,
		    "workers") : 2);
	if (argc == 4 && strcmp(argv[1], "copy") == 0)
		return copy(number(argv[2], 1, 1024, "mib") << 20,
		    number(argv[3], 1, 1000000, "rounds"));
	usage();
}
