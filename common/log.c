/*
 * Logging for every slua process: stderr while attached to a terminal,
 * syslog once daemonized.  Each line is written with a single write(2) so
 * lines from different processes never interleave.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

#include "log.h"

static int		 log_to_syslog;
static int		 log_debugging;
static const char	*log_procrole;

static void	 vlog(int, const char *, va_list)
		    __attribute__((format(printf, 2, 0)));
static void	 logit(int, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

void
log_init(int verbose)
{
	log_debugging = verbose;
	log_to_syslog = 0;
}

void
log_syslog(void)
{
	openlog("slua", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_to_syslog = 1;
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

static void
vlog(int pri, const char *fmt, va_list ap)
{
	char	 msg[1024], line[1200];
	int	 n;

	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	if (log_to_syslog) {
		if (log_procrole != NULL)
			syslog(pri, "%s: %s", log_procrole, msg);
		else
			syslog(pri, "%s", msg);
		return;
	}
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
 * A line a script wrote to standard error (eprint): to syslog when
 * detached, as a notice naming the role; returns -1 when not detached,
 * for the caller to write it to stderr itself.
 */
int
log_script(const char *buf, size_t len)
{
	if (!log_to_syslog)
		return -1;
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > INT_MAX)
		len = INT_MAX;
	syslog(LOG_NOTICE, "%s%s%.*s", log_procrole ? log_procrole : "",
	    log_procrole ? ": " : "", (int)len, buf);
	return 0;
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
