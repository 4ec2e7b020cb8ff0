/*
 * slua: multi-process Lua.  main() reads the command line and the config
 * file and hands over to one of the three modes:
 *
 *	normal	no port, at most one script	lua/interp.c
 *	stdio	no port, handler and worker	server/stdio.c
 *		(or a handler and --queue)
 *	host	no port, --queue, a worker only	worker/host.c
 *	tcp	a port				server/supervisor.c
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "broker.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "queue.h"
#include "server.h"
#include "slualib.h"

extern char	**environ;

/* -n outside tcp mode: the scripts' syntax is all there is to check. */
static int
configtest(struct config *cf)
{
	struct script	 sc;
	const char	*args[2] = { cf->cf_handler, cf->cf_worker };
	int		 i;

	for (i = 0; i < 2; i++) {
		if (args[i] == NULL)
			continue;
		if (script_open(&sc, args[i]) == -1)
			return 1;
		script_free(&sc);
	}
	(void)printf("configuration OK\n");
	return 0;
}

/*
 * The shared queue's URL, and what it changes: without a worker script
 * no local workers; a worker script alone needs the queue.
 */
static int
checkqueue(struct config *cf)
{
	char	 err[128];

	if (cf->cf_queue == NULL) {
		if (cf->cf_handler == NULL && cf->cf_worker != NULL &&
		    cf->cf_port == -1) {
			log_warnx("a worker without a handler needs --queue");
			return -1;
		}
		return 0;
	}
	if (queue_check(cf->cf_queue, err, sizeof(err)) == -1) {
		log_warnx("queue %s: %s", cf->cf_queue, err);
		return -1;
	}
	if (cf->cf_worker == NULL)
		cf->cf_workers = 0;
	return 0;
}

int
main(int argc, char *argv[])
{
	struct config	 cf, cli;
	int		 status;

	setproctitle_init(argc, argv, environ);
	log_init(0);
	config_init(&cf);
	(void)config_args(&cf, argc, argv);
	cli = cf;

	/*
	 * The default config file is for a server: read it when asked to
	 * serve, detach or check, never for a plain script.
	 */
	if (cf.cf_file != NULL) {
		if (config_file(&cf, cf.cf_file, 1) == -1)
			return 1;
	} else if (cf.cf_port != -1 || cf.cf_daemon == 1 || cf.cf_configtest) {
		if (config_file(&cf, CONFIG_DEFAULT_FILE, 0) == -1)
			return 1;
	}
	if (config_resolve(&cf) == -1) {
		config_file_free();
		return EXIT_USAGE;
	}
	log_init(cf.cf_verbose);

	/* A peer that goes away is an error to report, never a signal. */
	(void)signal(SIGPIPE, SIG_IGN);

	config_defaults(&cf);
	if (checkqueue(&cf) == -1) {
		config_file_free();
		return EXIT_USAGE;
	}
	slua_setmemlimit(cf.cf_max_memory);
	/* -n looks up the addresses the start would bind. */
	if (cf.cf_port != -1 && cf.cf_configtest && (listen_check(&cf) == -1 ||
	    (cf.cf_status != NULL && status_check(cf.cf_status) == -1)))
		status = 1;
	else if (cf.cf_port != -1)
		status = supervisor_main(&cli, &cf);
	else if (cf.cf_configtest)
		status = configtest(&cf);
	else if (cf.cf_handler != NULL &&
	    (cf.cf_worker != NULL || cf.cf_queue != NULL))
		status = stdio_main(&cf, argv[0]);
	else if (cf.cf_handler == NULL && cf.cf_worker != NULL)
		status = host_main(&cli, &cf);
	else
		status = interp_main(&cf, argv[0]);
	config_file_free();
	return status;
}
