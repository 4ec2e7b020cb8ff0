/*
 * slua: multi-process Lua.  main() reads the command line and hands over to
 * one of the three modes:
 *
 *	normal	no port, at most one script	lua/interp.c
 *	stdio	no port, handler and worker	server/stdio.c
 *	tcp	a port				server/supervisor.c
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "slualib.h"
#include "server.h"

extern char	**environ;

int
main(int argc, char *argv[])
{
	struct config	 cf;
	int		 nscripts;

	setproctitle_init(argc, argv, environ);
	log_init(0);
	config_init(&cf);
	nscripts = config_args(&cf, argc, argv);
	log_init(cf.cf_verbose);

	/* A peer that goes away is an error to report, never a signal. */
	(void)signal(SIGPIPE, SIG_IGN);

	config_defaults(&cf);
	if (cf.cf_port != -1)
		return supervisor_main(&cf, argv[0]);
	if (nscripts == 2)
		return stdio_main(&cf, argv[0]);
	return interp_main(&cf, argv[0]);
}
