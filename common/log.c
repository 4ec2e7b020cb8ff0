/*
 * Logging for every slua process: stderr while attached to a terminal,
 * syslog once daemonized, syslog (and stderr, when it is not the client)
 * under inetd.  Each line is written with a single write(2) so lines from
 * different processes never interleave.
 *
 * Syslog lines are sent by hand rather than by syslog(3): its socket
 * would be inherited across fork() by children that close descriptors
 * (fd_keep, closefrom) and reuse their numbers (a worker's channel is
 * dup2'ed onto 3), and syslog(3) would then write log lines into whatever
 * took the number, or close it after a failed send.  Here each process
 * opens a socket of its own and never touches one its parent opened.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOGTO_STDERR	0x1
#define LOGTO_SYSLOG	0x2
#define LOG_MAXSYSLOG	8192	/* longest datagram, a traceback included */

static int		 log_to = LOGTO_STDERR;
static int		 log_debugging;
static const char	*log_procrole;
static int		 log_sock = -1;
static pid_t		 log_sockpid;	/* the process log_sock belongs to */
static const struct sockaddr_un log_addr = {
	.sun_family = AF_UNIX, .sun_path = _PATH_LOG,
};
static char		 log_lastsys[256], log_lasterr[256];
static size_t		 log_lastsyslen, log_lasterrlen;

static void	 vlog(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	 logit(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

void
log_init(int verbose)
{
	log_debugging = verbose;
	log_to = LOGTO_STDERR;
}

void
log_syslog(void)
{
	log_to = LOGTO_SYSLOG;
}

/*
 * Under inetd, standard input is the client's socket and standard error
 * is most often that same socket: what is logged there reaches the client.
 * Log to syslog then, and to stderr too only when it is something else.
 * Returns 1 when standard input is a socket.
 */
int
log_inetd(void)
{
	struct stat	 in, err;

	if (fstat(STDIN_FILENO, &in) == -1 || !S_ISSOCK(in.st_mode))
		return 0;
	log_to = LOGTO_SYSLOG;
	if (fstat(STDERR_FILENO, &err) == 0 &&
	    (err.st_dev != in.st_dev || err.st_ino != in.st_ino))
		log_to |= LOGTO_STDERR;
	return 1;
}

void
log_setrole(const char *role)
{
	log_procrole = role;
}

const char *
log_role(void)
{
	return log_procrole;
}

int
log_verbose(void)
{
	return log_debugging;
}

static int
log_connect(void)
{
	int	 s;

	if ((s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(s, (const struct sockaddr *)&log_addr,
	    sizeof(log_addr)) == -1) {
		(void)close(s);
		return -1;
	}
	return s;
}

/*
 * Send one datagram to syslogd; without one, the line is lost, as with
 * syslog(3).  Async-signal-safe (log_lastwords), and keeps errno.
 */
static void
log_send(const char *buf, size_t len)
{
	pid_t	 pid = getpid();
	int	 saved = errno, try;
	ssize_t	 n;

	/* Our parent's socket: its number may be another file's by now. */
	if (log_sockpid != pid) {
		log_sock = -1;
		log_sockpid = pid;
	}
	for (try = 0; try < 2; try++) {
		if (log_sock == -1 && (log_sock = log_connect()) == -1)
			break;
		while ((n = send(log_sock, buf, len, MSG_NOSIGNAL)) == -1 &&
		    errno == EINTR)
			;
		if (n != -1)
			break;
		/* syslogd may have restarted: connect again, once. */
		(void)close(log_sock);
		log_sock = -1;
	}
	errno = saved;
}

/*
 * "<pri>Mmm dd hh:mm:ss slua[pid]: role: text", as syslog(3) would send
 * it with facility daemon and ident slua.
 */
static void
log_syslogline(int pri, const char *buf, size_t len)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	char		 line[LOG_MAXSYSLOG];
	struct tm	 tm;
	time_t		 now = time(NULL);
	int		 n;

	if (localtime_r(&now, &tm) == NULL)
		return;
	if (len > INT_MAX)
		len = INT_MAX;
	n = snprintf(line, sizeof(line), "<%d>%s %2d %02d:%02d:%02d slua[%ld]: "
	    "%s%s%.*s", LOG_DAEMON | pri, months[tm.tm_mon], tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid(),
	    log_procrole ? log_procrole : "", log_procrole ? ": " : "",
	    (int)len, buf);
	if (n < 0)
		return;
	log_send(line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

static void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024], line[1200];
	int	 n;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to & LOGTO_SYSLOG)
		log_syslogline(pri, msg, strlen(msg));
	if (!(log_to & LOGTO_STDERR))
		return;
	if (log_procrole != NULL)
		n = snprintf(line, sizeof(line), "slua: %s: %s\n",
		    log_procrole, msg);
	else
		n = snprintf(line, sizeof(line), "slua: %s\n", msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line)) {
		n = sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	/* One write per line: a short write to stderr is not worth a loop. */
	(void)!write(STDERR_FILENO, line, n);
}

static void
logit(int pri, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(pri, fmt, ap);
	va_end(ap);
}

static void
vlog_errno(int pri, int saved, const char *fmt, va_list ap)
{
	char	 msg[1024];

	if (fmt == NULL) {
		logit(pri, "%s", strerror(saved));
		return;
	}
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	logit(pri, "%s: %s", msg, strerror(saved));
}

/*
 * A line a script wrote with eprint: to syslog, when logging goes there,
 * as a notice naming the role.  Returns 1 when it goes to stderr too, for
 * the caller to write it there itself.
 */
int
log_script(const char *buf, size_t len)
{
	if (log_to & LOGTO_SYSLOG) {
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		log_syslogline(LOG_NOTICE, buf, len);
	}
	return (log_to & LOGTO_STDERR) != 0;
}

/*
 * A Lua error with its traceback, of any length (log lines are cut at
 * 1 KiB): to syslog as a warning, when logging goes there.  Returns 1 when
 * it goes to stderr too, for the caller to write it there itself.
 */
int
log_lua(const char *msg)
{
	if (log_to & LOGTO_SYSLOG)
		log_syslogline(LOG_WARNING, msg, strlen(msg));
	return (log_to & LOGTO_STDERR) != 0;
}

/*
 * Last words, for a process that must _exit from a signal handler, where
 * nothing may be formatted: the line is made now and sent by
 * log_lastwords().  The syslog line has no time stamp (syslogd adds the
 * time it arrives), as it may be sent long after it was made.
 */
void
log_setlastwords(const char *fmt, ...)
{
	char	 msg[200];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n = snprintf(log_lastsys, sizeof(log_lastsys), "<%d>slua[%ld]: %s%s%s",
	    LOG_DAEMON | LOG_WARNING, (long)getpid(),
	    log_procrole ? log_procrole : "", log_procrole ? ": " : "", msg);
	log_lastsyslen = n > 0 && (size_t)n < sizeof(log_lastsys) ? n : 0;
	n = snprintf(log_lasterr, sizeof(log_lasterr), "slua: %s%s%s\n",
	    log_procrole ? log_procrole : "", log_procrole ? ": " : "", msg);
	log_lasterrlen = n > 0 && (size_t)n < sizeof(log_lasterr) ? n : 0;
}

/* Async-signal-safe. */
void
log_lastwords(void)
{
	if ((log_to & LOGTO_SYSLOG) && log_lastsyslen > 0)
		log_send(log_lastsys, log_lastsyslen);
	if ((log_to & LOGTO_STDERR) && log_lasterrlen > 0)
		(void)!write(STDERR_FILENO, log_lasterr, log_lasterrlen);
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_WARNING, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_WARNING, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (!log_debugging)
		return;
	va_start(ap, fmt);
	vlog(LOG_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vlog_errno(LOG_CRIT, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vlog(LOG_CRIT, fmt, ap);
	va_end(ap);
	exit(1);
}
