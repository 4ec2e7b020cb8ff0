/*
 * What slua prints for a bad command line (usage) and for -h (help); the
 * options themselves are read in common/config.c, and slua(1) tells them
 * whole.
 */
#include <stdio.h>
#include <stdlib.h>

#include "config.h"
#include "slualib.h"

void
usage(void)
{
	(void)fprintf(stderr,
	    "usage: slua [-dinVv] [-e code] [-f file] [-H handlers] "
	    "[-l address|module]\n"
	    "            [-p port] [-u user] [-W workers] [options] "
	    "[handler [worker]] [-- args]\n"
	    "       slua -h for the list of options\n");
	exit(EXIT_USAGE);
}

void
help(void)
{
	(void)printf(
	    "usage: slua [options] [handler [worker]] [-- args]\n"
	    "A script argument naming a file is run from it; any other is "
	    "Lua code.\n"
	    "  -e code              run code (normal mode)\n"
	    "  -l module            require module (normal and stdio mode)\n"
	    "      --require module require module, in any mode\n"
	    "  -i                   enter the interactive prompt after the "
	    "script\n"
	    "  -p, --port port      serve TCP on port (tcp mode)\n"
	    "  -l, --listen addr    listen on addr (with -p; repeatable)\n"
	    "  -H, --handlers n     handler processes (tcp: 2 x CPUs)\n"
	    "      --max-handlers n grow the handler pool up to n\n"
	    "  -W, --workers n      worker processes (default: CPUs)\n"
	    "      --max-jobs n     jobs queued before submit blocks\n"
	    "      --max-job-size b largest job or answer (default 64M)\n"
	    "      --max-line b     longest client line (default 64k)\n"
	    "      --max-requests n connections per handler process\n"
	    "      --max-memory b   memory per Lua state\n"
	    "      --timeout s      client read/write timeout (default 60)\n"
	    "      --request-timeout s  time to read a request (default 30)\n"
	    "      --greeting       run the script at once: the server "
	    "speaks first\n"
	    "      --handler-timeout s, --job-timeout s, --grace s\n"
	    "      --tls-cert file, --tls-key file (or --ssl-cert, "
	    "--ssl-key)\n"
	    "      --tls-ciphers list, --tls-ciphersuites list, "
	    "--tls-protocols list\n"
	    "      --proxy-protocol each connection starts with a PROXY "
	    "header\n"
	    "      --tls-timeout s  the whole TLS handshake (default 10)\n"
	    "  -d, --daemon         detach and log to syslog\n"
	    "  -f, --config file    config file (default "
	    CONFIG_DEFAULT_FILE ")\n"
	    "  -u, --user name      run handlers and workers as name\n"
	    "      --pidfile file   (default " CONFIG_DEFAULT_PIDFILE ")\n"
	    "      --status addr:port|path  serve /metrics and /status\n"
	    "      --handler file, --worker file  the scripts, by role\n"
	    "      --queue url      the job queue on Redis (redis://host:port,\n"
	    "                       redis-sentinel://host,host.../master)\n"
	    "      --queue-name n   the prefix of its keys (default slua)\n"
	    "  -n, --configtest     check config and scripts, then exit\n"
	    "  -v, --verbose        log debug messages\n"
	    "  -V, --version        print the version\n"
	    "  -h, --help           print this help\n"
	    "See slua(1).\n");
	exit(0);
}
