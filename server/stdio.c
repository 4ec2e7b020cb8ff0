/*
 * stdio mode: `slua handler worker`.  This process runs the handler script
 * once, with standard input and output as its client, and is the parent of
 * the broker, which forks the workers.  When the handler script is done,
 * the jobs it submitted still run to their end (their workers may print);
 * then the broker and its workers stop and slua exits with the handler's
 * status.  Under inetd, the connection is standard input and output (and
 * most often standard error): errors go to syslog instead.
 */
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "client.h"
#include "config.h"
#include "log.h"
#include "slualib.h"
#include "server.h"
#include "timeout.h"
#include "work.h"

static long
stdio_read(void *ctx, char *buf, size_t len)
{
	(void)ctx;
	return read(STDIN_FILENO, buf, len);
}

static long
stdio_write(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	return write(STDOUT_FILENO, buf, len);
}

static void
stdio_args(lua_State *L, const char *progname, const struct config *cf)
{
	int	 i;

	lua_createtable(L, cf->cf_nargs, 2);
	lua_pushstring(L, progname);
	lua_rawseti(L, -2, -1);
	lua_pushstring(L, cf->cf_handler);
	lua_rawseti(L, -2, 0);
	for (i = 0; i < cf->cf_nargs; i++) {
		lua_pushstring(L, cf->cf_args[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_setglobal(L, "arg");
}

/* The handler script is stuck in C past its time and grace. */
static void
stdio_killed(void)
{
	log_lastwords();
	_exit(1);
}

/* Run the handler script; its status is slua's. */
static int
stdio_handler(struct config *cf, const char *progname,
    const struct script *sc, int inetd)
{
	struct client_io io = {
		.io_read = stdio_read, .io_write = stdio_write,
		.io_rfd = STDIN_FILENO, .io_wfd = STDOUT_FILENO,
	};
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof(ss);
	char			 peer[64] = "";
	lua_State		*L;
	int			 status, i;

	/* Only a socket (inetd) is a client that may time out. */
	client_open(&io, inetd ? cf->cf_timeout : 0, cf->cf_max_line,
	    cf->cf_max_job_size);

	L = slua_newstate(ROLE_HANDLER);
	if (inetd && getpeername(STDIN_FILENO, (struct sockaddr *)&ss,
	    &sslen) == 0) {
		client_setpeer(STDIN_FILENO, &ss);
		/* The log names an IP client, as in tcp mode. */
		if (ss.ss_family == AF_INET || ss.ss_family == AF_INET6) {
			listen_name((struct sockaddr *)&ss, peer, sizeof(peer));
			(void)strlcat(peer, ": ", sizeof(peer));
		}
	}
	log_setlastwords("%shandler timed out", peer);
	stdio_args(L, progname, cf);
	if ((status = script_require(L, cf)) == 0)
		status = script_load(L, sc);
	if (status == 0) {
		for (i = 0; i < cf->cf_nargs; i++)
			lua_pushstring(L, cf->cf_args[i]);
		timeout_arm(L, cf->cf_handler_timeout, cf->cf_grace,
		    "handler timed out", stdio_killed);
		status = slua_pcall(L, cf->cf_nargs, 0);
		timeout_disarm();
	}
	if (status != 0 && peer[0] != '\0') {
		lua_pushfstring(L, "%s%s", peer, lua_tostring(L, -1));
		lua_remove(L, -2);
	}
	slua_report(L, status);
	(void)fflush(stdout);
	work_drain(L);
	timeout_release(L);
	lua_close(L);
	client_close();
	return status == 0 ? 0 : 1;
}

int
stdio_main(struct config *cf, const char *progname)
{
	struct script	 handler, worker;
	pid_t		 broker;
	int		 sv[2], brokerfd, status, inetd;

	/* Under inetd, errors go to syslog, not to the client. */
	inetd = log_inetd();
	if (script_open(&handler, cf->cf_handler) == -1)
		return 1;
	memset(&worker, 0, sizeof(worker));
	if (cf->cf_worker != NULL && script_open(&worker, cf->cf_worker) == -1) {
		script_free(&handler);
		return 1;
	}
	if (ipc_socketpair(sv) == -1)
		fatal("socketpair");
	(void)fflush(stdout);
	if ((broker = broker_start(cf, &worker, &sv[1], 1, -1)) == -1)
		fatal("fork");
	(void)close(sv[1]);
	/* Waiting on a pidfd is how the handler learns the broker died. */
	brokerfd = syscall(SYS_pidfd_open, broker, 0);
	work_handler_init(sv[0], brokerfd, 0, cf->cf_max_job_size);

	status = stdio_handler(cf, progname, &handler, inetd);

	(void)kill(broker, SIGTERM);
	while (waitpid(broker, NULL, 0) == -1 && errno == EINTR)
		;
	script_free(&handler);
	script_free(&worker);
	return status;
}
