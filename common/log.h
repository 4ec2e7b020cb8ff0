/*
 * Logging: one family for every process.  Until a process detaches, lines go
 * to stderr as "slua: message" (or "slua: role: message" in a child); once
 * log_syslog() is called they go to syslog, facility daemon, ident "slua";
 * after log_inetd() to syslog, and to stderr unless it is the client.
 */
#ifndef SLUA_LOG_H
#define SLUA_LOG_H

#include <stdarg.h>
#include <stddef.h>

void	log_init(int verbose);
void	log_syslog(void);
int	log_inetd(void);
void	log_setrole(const char *role);
const char *log_role(void);
int	log_verbose(void);
int	log_script(const char *, size_t);
int	log_lua(const char *);
void	log_setlastwords(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
void	log_lastwords(void);

void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif
