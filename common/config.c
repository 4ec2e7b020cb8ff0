/*
 * The command line.  Options follow getopt_long(3); script arguments may
 * stand between options, and everything after "--" belongs to the script.
 */
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "slualib.h"

enum {
	OPT_LISTEN = 256,
	OPT_REQUIRE,
	OPT_MAX_JOBS,
	OPT_MAX_JOB_SIZE,
	OPT_MAX_HANDLERS,
	OPT_MAX_LINE,
	OPT_MAX_REQUESTS,
	OPT_MAX_MEMORY,
	OPT_TIMEOUT,
	OPT_HANDLER_TIMEOUT,
	OPT_JOB_TIMEOUT,
	OPT_GRACE,
	OPT_TLS_CERT,
	OPT_TLS_KEY,
	OPT_TLS_CIPHERS,
	OPT_TLS_CIPHERSUITES,
	OPT_TLS_PROTOCOLS,
	OPT_PIDFILE,
	OPT_STATUS,
	OPT_PROXY_PROTOCOL,
	OPT_HANDLER,
	OPT_WORKER,
	OPT_QUEUE,
	OPT_QUEUE_NAME,
	OPT_QUEUE_SENTINEL_PASSWORD,
	OPT_REQUEST_TIMEOUT,
	OPT_TLS_TIMEOUT,
	OPT_GREETING,
};

static const struct option longopts[] = {
	{ "port",		required_argument,	NULL,	'p' },
	{ "listen",		required_argument,	NULL,	OPT_LISTEN },
	{ "require",		required_argument,	NULL,	OPT_REQUIRE },
	{ "daemon",		no_argument,		NULL,	'd' },
	{ "config",		required_argument,	NULL,	'f' },
	{ "handlers",		required_argument,	NULL,	'H' },
	{ "max-handlers",	required_argument,	NULL,	OPT_MAX_HANDLERS },
	{ "workers",		required_argument,	NULL,	'W' },
	{ "user",		required_argument,	NULL,	'u' },
	{ "max-jobs",		required_argument,	NULL,	OPT_MAX_JOBS },
	{ "max-job-size",	required_argument,	NULL,	OPT_MAX_JOB_SIZE },
	{ "max-line",		required_argument,	NULL,	OPT_MAX_LINE },
	{ "max-requests",	required_argument,	NULL,	OPT_MAX_REQUESTS },
	{ "max-memory",		required_argument,	NULL,	OPT_MAX_MEMORY },
	{ "timeout",		required_argument,	NULL,	OPT_TIMEOUT },
	{ "handler-timeout",	required_argument,	NULL,	OPT_HANDLER_TIMEOUT },
	{ "job-timeout",	required_argument,	NULL,	OPT_JOB_TIMEOUT },
	{ "grace",		required_argument,	NULL,	OPT_GRACE },
	{ "tls-cert",		required_argument,	NULL,	OPT_TLS_CERT },
	{ "ssl-cert",		required_argument,	NULL,	OPT_TLS_CERT },
	{ "tls-key",		required_argument,	NULL,	OPT_TLS_KEY },
	{ "ssl-key",		required_argument,	NULL,	OPT_TLS_KEY },
	{ "tls-ciphers",	required_argument,	NULL,	OPT_TLS_CIPHERS },
	{ "tls-ciphersuites",	required_argument,	NULL,	OPT_TLS_CIPHERSUITES },
	{ "tls-protocols",	required_argument,	NULL,	OPT_TLS_PROTOCOLS },
	{ "pidfile",		required_argument,	NULL,	OPT_PIDFILE },
	{ "status",		required_argument,	NULL,	OPT_STATUS },
	{ "proxy-protocol",	no_argument,		NULL,	OPT_PROXY_PROTOCOL },
	{ "handler",		required_argument,	NULL,	OPT_HANDLER },
	{ "worker",		required_argument,	NULL,	OPT_WORKER },
	{ "queue",		required_argument,	NULL,	OPT_QUEUE },
	{ "queue-name",		required_argument,	NULL,	OPT_QUEUE_NAME },
	{ "queue-sentinel-password", required_argument,	NULL,
	    OPT_QUEUE_SENTINEL_PASSWORD },
	{ "request-timeout",	required_argument,	NULL,	OPT_REQUEST_TIMEOUT },
	{ "tls-timeout",	required_argument,	NULL,	OPT_TLS_TIMEOUT },
	{ "greeting",		no_argument,		NULL,	OPT_GREETING },
	{ "configtest",		no_argument,		NULL,	'n' },
	{ "verbose",		no_argument,		NULL,	'v' },
	{ "version",		no_argument,		NULL,	'V' },
	{ "help",		no_argument,		NULL,	'h' },
	{ NULL,			0,			NULL,	0 }
};

static const char shortopts[] = "+:p:l:df:H:W:u:ne:ivVh";

/*
 * A bad setting: on the command line, a usage error; in a config file, a
 * Lua error that conffile.c reports with the file and line.
 */
static lua_State	*config_L;

static void
config_fail(const char *fmt, ...)
{
	char	 msg[512];
	va_list	 ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (config_L != NULL) {
		lua_State	*L = config_L;

		config_L = NULL;	/* the error leaves config_setting */
		luaL_where(L, 1);
		lua_pushstring(L, msg);
		lua_concat(L, 2);
		lua_error(L);
	}
	log_warnx("%s", msg);
	exit(EXIT_USAGE);
}

static long long
number(const char *name, const char *s, long long min, long long max)
{
	const char	*errstr;
	long long	 n;

	n = strtonum(s, min, max, &errstr);
	if (errstr != NULL)
		config_fail("%s %s: %s", name, s, errstr);
	return n;
}

/* A byte count, with an optional k, m or g suffix (powers of 1024). */
static long long
bytes(const char *name, const char *s, long long min, long long max)
{
	char		 buf[32];
	size_t		 len;
	int		 shift = 0;
	long long	 n;

	len = strlen(s);
	if (len == 0 || len >= sizeof(buf))
		config_fail("%s %s: invalid", name, s);
	(void)strlcpy(buf, s, sizeof(buf));
	switch (buf[len - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	}
	if (shift)
		buf[len - 1] = '\0';
	n = number(name, buf, 0, LLONG_MAX >> 30);
	n <<= shift;
	if (n < min || n > max)
		config_fail("%s %s: %s", name, s, n < min ? "too small" :
		    "too large");
	return n;
}

static void
addpre(struct config *cf, int kind, const char *arg)
{
	if (cf->cf_npre == CONFIG_MAXPRE)
		config_fail("too many -e and -l options");
	cf->cf_pre[cf->cf_npre].pre_kind = kind;
	cf->cf_pre[cf->cf_npre].pre_arg = arg;
	cf->cf_npre++;
}

static void
addlisten(struct config *cf, const char *addr)
{
	if (cf->cf_nlisten == CONFIG_MAXLISTEN)
		config_fail("too many listen addresses");
	cf->cf_listen[cf->cf_nlisten++] = addr;
}

/* --tls-cert and --tls-key, each up to twice: a pair per key type. */
static void
tlspair(struct config *cf, int ch, const char *arg)
{
	const char	**one, **two;

	one = ch == OPT_TLS_CERT ? &cf->cf_tls_cert : &cf->cf_tls_key;
	two = ch == OPT_TLS_CERT ? &cf->cf_tls_cert2 : &cf->cf_tls_key2;
	if (*one == NULL)
		*one = arg;
	else if (*two == NULL)
		*two = arg;
	else
		config_fail("%s %s: at most two", ch == OPT_TLS_CERT ?
		    "tls-cert" : "tls-key", arg);
}

/* Every Redis key starts with the name: keep it a plain word. */
static void
queuename(const char *arg)
{
	size_t	 i, len = strlen(arg);

	if (len == 0 || len > 64)
		config_fail("queue-name %s: 1 to 64 characters", arg);
	for (i = 0; i < len; i++)
		if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-.:", arg[i]) == NULL)
			config_fail("queue-name %s: letters, digits and _-.: "
			    "only", arg);
}

/*
 * The URL's form is checked where it is used (worker/queue_redis.c); here
 * only that no password shows in ps: it belongs in the config file.
 */
static void
queueurl(const char *arg)
{
	const char	*at, *colon;

	if (config_L != NULL)
		return;
	if (strncmp(arg, "redis://", 8) == 0)
		arg += 8;
	else if (strncmp(arg, "redis-sentinel://", 17) == 0)
		arg += 17;
	else
		return;
	/* Not a master's name after the '/' (Sentinel's may hold '@'). */
	if ((at = strchr(arg, '@')) == NULL ||
	    memchr(arg, '/', at - arg) != NULL)
		return;
	colon = memchr(arg, ':', at - arg);
	if (colon != NULL)
		config_fail("queue: a password goes in the config file, "
		    "not on the command line (ps shows it)");
}

static void
option(struct config *cf, int ch, const char *arg)
{
	switch (ch) {
	case 'p':
		cf->cf_port = number("port", arg, 1, 65535);
		break;
	case 'l':
		/* A listen address in tcp mode, a module otherwise. */
		addpre(cf, 'l', arg);
		break;
	case OPT_LISTEN:
		addlisten(cf, arg);
		break;
	case OPT_REQUIRE:
		addpre(cf, 'r', arg);
		break;
	case 'd':
		cf->cf_daemon = 1;
		break;
	case 'f':
		cf->cf_file = arg;
		break;
	case 'H':
		cf->cf_handlers = number("handlers", arg, 1, 1024);
		break;
	case OPT_MAX_HANDLERS:
		cf->cf_max_handlers = number("max-handlers", arg, 1, 1024);
		break;
	case 'W':
		cf->cf_workers = number("workers", arg, 1, 1024);
		break;
	case 'u':
		cf->cf_user = arg;
		break;
	case OPT_MAX_JOBS:
		cf->cf_max_jobs = number("max-jobs", arg, 1, 1000000);
		break;
	case OPT_MAX_JOB_SIZE:
		cf->cf_max_job_size = bytes("max-job-size", arg, 1,
		    1LL << 30);
		break;
	case OPT_MAX_LINE:
		cf->cf_max_line = bytes("max-line", arg, 1, 1LL << 30);
		break;
	case OPT_MAX_REQUESTS:
		cf->cf_max_requests = number("max-requests", arg, 0, INT_MAX);
		break;
	case OPT_MAX_MEMORY:
		cf->cf_max_memory = bytes("max-memory", arg, 0, 1LL << 40);
		/* Below that, no Lua state with slua's library starts. */
		if (cf->cf_max_memory > 0 && cf->cf_max_memory < 1 << 20)
			config_fail("max-memory %s: too small (0 for no limit, "
			    "or at least 1m)", arg);
		break;
	case OPT_TIMEOUT:
		cf->cf_timeout = number("timeout", arg, 0, 86400);
		break;
	case OPT_HANDLER_TIMEOUT:
		cf->cf_handler_timeout = number("handler-timeout", arg, 0,
		    86400);
		break;
	case OPT_JOB_TIMEOUT:
		cf->cf_job_timeout = number("job-timeout", arg, 0, 86400);
		break;
	case OPT_GRACE:
		cf->cf_grace = number("grace", arg, 0, 86400);
		break;
	case OPT_REQUEST_TIMEOUT:
		cf->cf_request_timeout = number("request-timeout", arg, 0,
		    86400);
		break;
	case OPT_TLS_TIMEOUT:
		cf->cf_tls_timeout = number("tls-timeout", arg, 1, 86400);
		break;
	case OPT_GREETING:
		cf->cf_greeting = 1;
		break;
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
		tlspair(cf, ch, arg);
		break;
	case OPT_TLS_CIPHERS:
		cf->cf_tls_ciphers = arg;
		break;
	case OPT_TLS_CIPHERSUITES:
		cf->cf_tls_ciphersuites = arg;
		break;
	case OPT_TLS_PROTOCOLS:
		cf->cf_tls_protocols = arg;
		break;
	case OPT_PIDFILE:
		cf->cf_pidfile = arg;
		break;
	case OPT_STATUS:
		cf->cf_status = arg;
		break;
	case OPT_PROXY_PROTOCOL:
		cf->cf_proxy_protocol = 1;
		break;
	case OPT_HANDLER:
		cf->cf_handler = arg;
		break;
	case OPT_WORKER:
		cf->cf_worker = arg;
		break;
	case OPT_QUEUE:
		queueurl(arg);
		cf->cf_queue = arg;
		break;
	case OPT_QUEUE_NAME:
		queuename(arg);
		cf->cf_queue_name = arg;
		break;
	case OPT_QUEUE_SENTINEL_PASSWORD:
		if (config_L == NULL)
			config_fail("queue-sentinel-password: a password goes "
			    "in the config file, not on the command line (ps "
			    "shows it)");
		cf->cf_queue_sentinel_password = arg;
		break;
	case 'n':
		cf->cf_configtest = 1;
		break;
	case 'e':
		addpre(cf, 'e', arg);
		break;
	case 'i':
		cf->cf_interactive = 1;
		break;
	case 'v':
		cf->cf_verbose++;
		break;
	case 'V':
		(void)printf("slua %s (%s)\n", SLUA_VERSION, LUA_NAME);
		exit(0);
	case 'h':
		help();
	}
}

/*
 * The long option a config file's name stands for: '_' for '-', and
 * never one that only makes sense on the command line.  NULL if none.
 */
static const struct option *
fileoption(const char *name)
{
	static const char	*notinfile[] = {
		"config", "configtest", "version", "help", "require", NULL
	};
	const struct option	*o;
	char			 opt[64];
	size_t			 i;

	if (strlcpy(opt, name, sizeof(opt)) >= sizeof(opt))
		return NULL;
	for (i = 0; opt[i] != '\0'; i++)
		if (opt[i] == '_')
			opt[i] = '-';
	for (i = 0; notinfile[i] != NULL; i++)
		if (strcmp(opt, notinfile[i]) == 0)
			return NULL;
	for (o = longopts; o->name != NULL; o++)
		if (strcmp(o->name, opt) == 0)
			return o;
	return NULL;
}

/* What a config file may give the setting name; -1: no such setting. */
int
config_kind(const char *name)
{
	const struct option	*o;

	if (strcmp(name, "handler") == 0 || strcmp(name, "worker") == 0)
		return CONFIG_SCRIPT;
	if ((o = fileoption(name)) == NULL)
		return -1;
	if (o->has_arg == no_argument)
		return CONFIG_FLAG;
	switch (o->val) {
	case OPT_LISTEN:
		return CONFIG_ADDRS;
	case 'u':
		return CONFIG_USER;
	case OPT_TLS_CERT:
	case OPT_TLS_KEY:
		return CONFIG_FILE;
	case OPT_PIDFILE:
		return CONFIG_STRING;
	case OPT_HANDLER:
	case OPT_WORKER:
		return CONFIG_SCRIPT;
	case OPT_QUEUE:
	case OPT_QUEUE_NAME:
	case OPT_QUEUE_SENTINEL_PASSWORD:
	case OPT_TLS_CIPHERS:
	case OPT_TLS_CIPHERSUITES:
	case OPT_TLS_PROTOCOLS:
	case OPT_STATUS:
		return CONFIG_TEXT;
	default:
		return CONFIG_NUMBER;
	}
}

/*
 * A config file's "name = value", value already a string ("true" for a
 * flag).  Returns -1 for a name that is no setting; errors in the value
 * raise a Lua error in L.
 */
int
config_setting(struct config *cf, lua_State *L, const char *name,
    const char *value)
{
	const struct option	*o;

	if (strcmp(name, "handler") == 0 || strcmp(name, "worker") == 0) {
		if (strcmp(name, "handler") == 0)
			cf->cf_handler = value;
		else
			cf->cf_worker = value;
		return 0;
	}
	if ((o = fileoption(name)) == NULL)
		return -1;
	if (o->has_arg == no_argument && strcmp(value, "true") != 0) {
		if (o->val == 'd')
			cf->cf_daemon = 0;
		return 0;
	}
	config_L = L;
	option(cf, o->val == OPT_LISTEN || o->val == 'l' ? OPT_LISTEN :
	    o->val, value);
	config_L = NULL;
	return 0;
}

static void
badoption(int argc, char **argv)
{
	const char	*opt = argv[optind - 1 < argc ? optind - 1 : argc - 1];

	if (optopt != 0 && optopt < 256 && strchr(shortopts, optopt) == NULL)
		log_warnx("unknown option -%c", optopt);
	else if (optopt != 0 && optopt < 256 && opt[0] == '-' && opt[1] != '-')
		log_warnx("option -%c needs an argument", optopt);
	else if (strchr(opt, '=') == NULL && optopt != 0)
		log_warnx("option %s needs an argument", opt);
	else
		log_warnx("unknown option %s", opt);
	usage();
}

static void
script(const char **pos, const char *arg)
{
	if (pos[0] == NULL)
		pos[0] = arg;
	else if (pos[1] == NULL)
		pos[1] = arg;
	else {
		log_warnx("%s: too many scripts (script arguments go after "
		    "--)", arg);
		exit(EXIT_USAGE);
	}
}

/*
 * Parse argv into cf.  getopt_long runs in "+" mode so it stops at each
 * script argument; we take the script and resume, which lets options and
 * scripts mix while "--" still ends both.  Returns the number of scripts.
 */
int
config_args(struct config *cf, int argc, char **argv)
{
	const char	*lastarg = NULL, *pos[2] = { NULL, NULL };
	int		 ch, i;

	opterr = 0;
	optind = 1;
	for (;;) {
		while ((ch = getopt_long(argc, argv, shortopts, longopts,
		    NULL)) != -1) {
			if (ch == '?' || ch == ':')
				badoption(argc, argv);
			lastarg = optarg;
			option(cf, ch, optarg);
		}
		if (optind > 1 && argv[optind - 1] != lastarg &&
		    strcmp(argv[optind - 1], "--") == 0)
			break;
		if (optind >= argc)
			break;
		script(pos, argv[optind]);
		lastarg = NULL;
		optind++;
	}
	/* Script arguments fill the roles --handler and --worker left. */
	for (i = 0; i < 2 && pos[i] != NULL; i++) {
		if (cf->cf_handler == NULL)
			cf->cf_handler = pos[i];
		else if (cf->cf_worker == NULL)
			cf->cf_worker = pos[i];
		else {
			log_warnx("%s: too many scripts (script arguments go "
			    "after --)", pos[i]);
			exit(EXIT_USAGE);
		}
	}
	cf->cf_args = argv + optind;
	cf->cf_nargs = argc - optind;
	return (cf->cf_handler != NULL) + (cf->cf_worker != NULL);
}

/*
 * Once the config file has been read: -l names listen addresses when
 * there is a port to listen on, modules otherwise.  -1 (logged) when
 * addresses are given but no port.
 */
int
config_resolve(struct config *cf)
{
	int	 i;

	if (cf->cf_port != -1) {
		int	 n = 0;

		for (i = 0; i < cf->cf_npre; i++) {
			if (cf->cf_pre[i].pre_kind == 'l')
				addlisten(cf, cf->cf_pre[i].pre_arg);
			else
				cf->cf_pre[n++] = cf->cf_pre[i];
		}
		cf->cf_npre = n;
	} else if (cf->cf_nlisten > 0) {
		log_warnx("--listen needs --port");
		return -1;
	}
	/* stdio mode has no listener of its own to report on. */
	if (cf->cf_port == -1 && cf->cf_status != NULL) {
		log_warnx("--status needs --port");
		return -1;
	}
	return 0;
}
