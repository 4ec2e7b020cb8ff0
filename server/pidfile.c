/*
 * The pidfile.  The supervisor runs as root and the path comes from the
 * command line or the config file, so it is opened without following a
 * symbolic link (a link planted there would have its target overwritten)
 * and must be a regular file with no other name.  An exclusive flock(2)
 * held for slua's whole life tells a second slua that one runs; the lock
 * is taken before slua detaches and the daemon inherits it, so the pid
 * written later by the daemon is always the locker's.  The file holds
 * "pid\n", as rc scripts and start-stop-daemon(8) read it.
 */
#include <sys/file.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define PF_READ_TRIES	20	/* the locker may not have written yet */
#define PF_READ_PAUSE_MS 5

/* The pid in a file another slua has locked; 0 when it has none yet. */
static pid_t
pf_read(int fd)
{
	struct timespec	 pause = { 0, PF_READ_PAUSE_MS * 1000000L };
	char		 buf[32], *nl;
	const char	*errstr;
	ssize_t		 n;
	long long	 pid;
	int		 i;

	for (i = 0; i < PF_READ_TRIES; i++) {
		if ((n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
			buf[n] = '\0';
			if ((nl = strchr(buf, '\n')) != NULL) {
				*nl = '\0';
				pid = strtonum(buf, 1, INT_MAX, &errstr);
				if (errstr == NULL)
					return (pid_t)pid;
			}
		}
		(void)nanosleep(&pause, NULL);
	}
	return 0;
}

static int
pf_check(int fd, const char *path)
{
	struct stat	 st;

	if (fstat(fd, &st) == -1) {
		log_warn("%s", path);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		log_warnx("%s: pidfile is not a regular file", path);
		return -1;
	}
	if (st.st_nlink != 1) {
		log_warnx("%s: pidfile has other names (hard links): refused",
		    path);
		return -1;
	}
	return 0;
}

/*
 * Open, check and lock path, and empty it: a stale pid from a slua that
 * was killed must not name some other process meanwhile.  -1, logged,
 * when it cannot, or when another slua holds it.
 */
int
pf_open(struct pidfile *pf, const char *path)
{
	pid_t	 other;
	int	 fd;

	pf->pf_path = path;
	pf->pf_fd = -1;
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC, 0644);
	if (fd == -1) {
		if (errno == ELOOP)
			log_warnx("%s: pidfile is a symbolic link: refused",
			    path);
		else
			log_warn("%s", path);
		return -1;
	}
	if (pf_check(fd, path) == -1)
		goto fail;
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK)
			log_warn("%s: lock", path);
		else if ((other = pf_read(fd)) > 0)
			log_warnx("already running as pid %d (%s)", (int)other,
			    path);
		else
			log_warnx("already running (%s is locked)", path);
		goto fail;
	}
	if (ftruncate(fd, 0) == -1) {
		log_warn("%s", path);
		goto fail;
	}
	pf->pf_fd = fd;
	return 0;
 fail:
	(void)close(fd);
	return -1;
}

/* Our pid, by the process that will hold the lock: after detaching. */
int
pf_write(struct pidfile *pf)
{
	char	 buf[32];
	ssize_t	 w = -1;
	int	 n;

	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(pf->pf_fd, 0) == -1 ||
	    (w = pwrite(pf->pf_fd, buf, n, 0)) != n) {
		if (w >= 0)
			errno = EIO;	/* a short write: the disk is full */
		log_warn("%s", pf->pf_path);
		return -1;
	}
	return 0;
}

/* Unlink before the lock goes: a new slua then makes a file of its own. */
void
pf_remove(struct pidfile *pf)
{
	if (pf->pf_fd == -1)
		return;
	if (unlink(pf->pf_path) == -1 && errno != ENOENT)
		log_warn("%s", pf->pf_path);
	(void)close(pf->pf_fd);
	pf->pf_fd = -1;
}
