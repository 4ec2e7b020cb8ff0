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
	const char	*cf_tls_cert;
	const char	*cf_tls_key;
	int		 cf_handlers;
	int		 cf_max_handlers;
	int		 cf_max_requests;
	long long	 cf_max_line;
	int		 cf_timeout;		/* seconds, client I/O */
	int		 cf_handler_timeout;	/* seconds, 0: none */
	int		 cf_grace;		/* seconds */

	/* the job queue */
	int		 cf_workers;
	int		 cf_max_jobs;
	long long	 cf_max_job_size;
	int		 cf_job_timeout;	/* seconds, 0: none */
	long long	 cf_max_memory;		/* bytes per Lua state, 0: none */
};

struct lua_State;

void	config_init(struct config *);
int	config_setting(struct config *, struct lua_State *, const char *,
	    const char *);
void	config_merge(struct config *, const struct config *);
int	config_file(struct config *, const char *, int);
void	config_file_free(void);
int	config_args(struct config *, int, char **);
int	config_resolve(struct config *);
void	config_defaults(struct config *);
void	usage(void) __attribute__((noreturn));

#endif
