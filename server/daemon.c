/*
 * Starting as a service.  Whoever starts slua -d (an rc script, an
 * operator, systemd with Type=forking) takes its exit as "it serves", so
 * the process it started exits only once the daemon does, or fails with
 * the daemon's reason:
 *
 *	parent		forks, then waits on a pipe and copies what comes to
 *			its standard error; exits 0 at a NUL byte (the daemon
 *			serves), 1 at the end of the pipe without one
 *	  child		setsid(2), forks, exits
 *	    daemon	the pipe as its standard error, so every line it logs
 *			while starting reaches the terminal; handlers forked
 *			meanwhile share it until they have loaded their script
 *			(server/handler.c); once it serves: NUL and its pid,
 *			then standard error to /dev/null and syslog
 *
 * Under systemd with Type=notify, NOTIFY_SOCKET names a datagram socket
 * that takes READY=1, RELOADING=1 and STOPPING=1, one message a datagram
 * (sd_notify(3)); a name starting with '@' is in the abstract namespace.
 * A detached daemon is not the process systemd started: the waiting
 * parent, which is, says READY=1 with the daemon's MAINPID.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "util.h"

static struct sockaddr_un	 notify_sun;
static socklen_t		 notify_len;	/* 0: no NOTIFY_SOCKET */

/*
 * The parent: relay what the daemon says while it starts; at the NUL, the
 * daemon's pid follows, up to a newline.
 */
static void __attribute__((noreturn))
daemon_wait(int fd)
{
	char	 buf[4096], *nul;
	ssize_t	 n;
	size_t	 text;
	int	 said = 0, ready = 0;
	long	 pid = 0;

	while ((n = read(fd, buf, sizeof(buf))) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (!ready) {
			nul = memchr(buf, '\0', n);
			text = nul ? (size_t)(nul - buf) : (size_t)n;
			if (text > 0) {
				(void)!write(STDERR_FILENO, buf, text);
				said = 1;
			}
			if (nul == NULL)
				continue;
			ready = 1;
			memmove(buf, nul + 1, n - text - 1);
			n -= text + 1;
		}
		for (nul = buf; nul < buf + n && *nul != '\n'; nul++)
			if (*nul >= '0' && *nul <= '9' && pid < 1L << 30)
				pid = pid * 10 + (*nul - '0');
		if (nul < buf + n)
			break;
	}
	if (!ready) {
		if (!said)
			log_warnx("the daemon exited before it served");
		_exit(1);
	}
	if (pid > 0)
		daemon_notify("READY=1\nMAINPID=%ld", pid);
	_exit(0);
}

/*
 * Detach: returns in the daemon, whose standard error is the waiting
 * parent's pipe until daemon_ready().
 */
void
daemon_detach(void)
{
	pid_t	 pid;
	int	 p[2];

	if (pipe2(p, O_CLOEXEC) == -1)
		fatal("pipe");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0) {
		(void)close(p[1]);
		daemon_wait(p[0]);
	}
	(void)close(p[0]);
	if (setsid() == -1)
		fatal("setsid");
	if ((pid = fork()) == -1)
		fatal("fork");
	if (pid != 0)
		_exit(0);
	if (chdir("/") == -1)
		fatal("chdir /");
	if (fd_devnull(STDIN_FILENO) == -1 || fd_devnull(STDOUT_FILENO) == -1)
		fatal("/dev/null");
	if (dup2(p[1], STDERR_FILENO) == -1)
		fatal("dup2");
	(void)close(p[1]);
	proc_detach();
}

/* The daemon serves: the waiting parent may go. */
void
daemon_ready(void)
{
	char	 buf[32];
	int	 n;

	n = snprintf(buf, sizeof(buf), "%c%d\n", '\0', (int)getpid());
	/* A parent killed meanwhile is no reason to stop. */
	(void)!write(STDERR_FILENO, buf, n);
	proc_syslog();
}

/* Take NOTIFY_SOCKET from the environment, where children must not see it. */
void
daemon_notifyinit(void)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 len;

	notify_len = 0;
	if (path == NULL)
		return;
	len = strlen(path);
	if ((path[0] != '/' && path[0] != '@') || len < 2 ||
	    len > sizeof(notify_sun.sun_path) - 1) {
		log_warnx("NOTIFY_SOCKET=%s: not a unix socket: ignored", path);
		(void)unsetenv("NOTIFY_SOCKET");
		return;
	}
	memset(&notify_sun, 0, sizeof(notify_sun));
	notify_sun.sun_family = AF_UNIX;
	memcpy(notify_sun.sun_path, path, len);
	if (path[0] == '@')
		notify_sun.sun_path[0] = '\0';	/* abstract: no NUL at its end */
	else
		len++;
	notify_len = offsetof(struct sockaddr_un, sun_path) + len;
	(void)unsetenv("NOTIFY_SOCKET");
}

int
daemon_notifying(void)
{
	return notify_len != 0;
}

/* One datagram; a socket of its own, so no child ever inherits one. */
void
daemon_notify(const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[1024];
	int	 fd, n;

	if (notify_len == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(msg))
		n = sizeof(msg) - 1;
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1) {
		log_warn("notify socket");
		return;
	}
	if (sendto(fd, msg, n, MSG_NOSIGNAL, (struct sockaddr *)&notify_sun,
	    notify_len) == -1)
		log_warn("NOTIFY_SOCKET");
	(void)close(fd);
}
