/*
 * The settings of one slua run.  The command line fills them first, then the
 * config file fills whatever the command line left unset, then
 * config_defaults() gives the rest their documented defaults: so the command
 * line always wins.  Unset numbers are -1, unset strings NULL.
 */
#ifndef SLUA_CONFIG_H
#define SLUA_CONFIG_H

#include <stddef.h>

#define SLUA_VERSION		"0.1.0"
#define CONFIG_MAXLISTEN	16
#define CONFIG_MAXPRE		64
#define CONFIG_DEFAULT_FILE	"/etc/slua.conf"
#define CONFIG_DEFAULT_PIDFILE	"/var/run/slua.pid"

/*
 * The bounds on a config file (slua.conf(5), Bounds).  The supervisor runs
 * the file at start and on every HUP, so the file must end, and soon:
 * bytes of text; instructions of the Lua VM, and CPU time for the few
 * instructions whose work grows with their operands (comparing two long
 * strings); bytes its Lua state holds with the values it sets; and
 * assignments to settings, each of which makes a system call or two to
 * check the value.
 */
#define CONFIG_MAXFILE		(1 << 20)
#define CONFIG_MAXSTEPS		100000
#define CONFIG_MAXCPU_MS	200
#define CONFIG_MAXMEMORY	(16 << 20)
#define CONFIG_MAXSETS		1000

/* What a config file may give a setting, and what the value must be. */
enum config_kind {
	CONFIG_FLAG,		/* true or false */
	CONFIG_NUMBER,		/* a number, or a string ("16m") */
	CONFIG_STRING,		/* a path slua makes (the pidfile) */
	CONFIG_TEXT,		/* a string checked where it is used (TLS) */
	CONFIG_ADDRS,		/* listen: an address, or a list of them */
	CONFIG_FILE,		/* a file the start reads */
	CONFIG_SCRIPT,		/* a script's file, or Lua code */
	CONFIG_USER
};

/* Exit statuses, as slua(1) documents them. */
#define EXIT_USAGE		2

/* A -e chunk or a module to require, run in command-line order. */
struct config_pre {
	int		 pre_kind;	/* 'e', 'l' or 'r' (--require) */
	const char	*pre_arg;
};

struct config {
	/* scripts and their arguments */
	const char	*cf_handler;	/* path or inline code, NULL: none */
	const char	*cf_worker;
	char		**cf_args;	/* after "--" */
	int		 cf_nargs;
	struct config_pre cf_pre[CONFIG_MAXPRE];
	int		 cf_npre;
	int		 cf_interactive;	/* -i */
	int		 cf_configtest;		/* -n */
	int		 cf_verbose;		/* -v, counted */

	/* the server */
	int		 cf_port;
	const char	*cf_listen[CONFIG_MAXLISTEN];
	int		 cf_nlisten;
	int		 cf_daemon;
	const char	*cf_file;		/* -f */
	const char	*cf_user;
	const char	*cf_pidfile;
	const char	*cf_status;		/* --status; NULL: none */
	const char	*cf_tls_cert;
	const char	*cf_tls_key;
	const char	*cf_tls_cert2;		/* a second pair, of another */
	const char	*cf_tls_key2;		/* key type; NULL: none */
	const char	*cf_tls_ciphers;	/* TLS 1.2; NULL: slua's */
	const char	*cf_tls_ciphersuites;	/* TLS 1.3; NULL: OpenSSL's */
	const char	*cf_tls_protocols;	/* NULL: TLSv1.2 and TLSv1.3 */
	int		 cf_handlers;
	int		 cf_max_handlers;
	int		 cf_max_requests;
	long long	 cf_max_line;
	int		 cf_timeout;		/* seconds, client I/O */
	int		 cf_handler_timeout;	/* seconds, 0: none */
	int		 cf_grace;		/* seconds */
	int		 cf_proxy_protocol;	/* a PROXY header first */
	int		 cf_request_timeout;	/* seconds to read one, 0: none */
	int		 cf_tls_timeout;	/* seconds, the whole handshake */
	int		 cf_greeting;		/* run the script at accept */

	/* the job queue */
	int		 cf_workers;
	int		 cf_max_jobs;
	long long	 cf_max_job_size;
	int		 cf_job_timeout;	/* seconds, 0: none */
	long long	 cf_max_memory;		/* bytes per Lua state, 0: none */
	const char	*cf_queue;		/* Redis URL; NULL: local queue */
	const char	*cf_queue_name;		/* its keys' prefix */
	const char	*cf_queue_sentinel_password; /* slua.conf only */
};

struct lua_State;

void	config_init(struct config *);
int	config_kind(const char *);
int	config_setting(struct config *, struct lua_State *, const char *,
	    const char *);
void	config_merge(struct config *, const struct config *);
int	config_file(struct config *, const char *, int);
void	config_file_free(void);
int	config_args(struct config *, int, char **);
int	config_resolve(struct config *);
void	config_defaults(struct config *);
void	usage(void) __attribute__((noreturn));
void	help(void) __attribute__((noreturn));

/* Checks of one value, without the system's state changing (confcheck.c). */
int	confcheck(int, const char *, char *, size_t);
int	confcheck_addr(const char *, char *, size_t);

#endif
