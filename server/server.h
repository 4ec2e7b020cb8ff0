/*
 * The modes that serve clients: stdio mode (server/stdio.c) and tcp mode,
 * whose supervisor (server/supervisor.c) binds the listeners
 * (server/listen.c), makes the TLS context (server/tlsctx.c) and preforks
 * the handlers (server/handler.c).
 */
#ifndef SLUA_SERVER_H
#define SLUA_SERVER_H

#include <sys/socket.h>
#include <sys/types.h>

#include <stddef.h>

#include "openssl.h"

struct config;
struct script;

#define LISTEN_MAX	32

struct listener {
	int	 l_fds[LISTEN_MAX];
	int	 l_n;
	int	 l_inherited;	/* another (systemd) holds them too */
};

/* What a handler process needs; the supervisor fills it before fork. */
struct handler_env {
	struct config		*he_cf;
	const struct script	*he_script;
	struct listener		*he_listen;
	SSL_CTX			*he_tls;
	int			 he_slot;
	int			 he_spare;	/* exits once idle */
	int			 he_fd;		/* to the broker; -1: none */
	int			 he_startfd;	/* to say it serves; -1: no one asks */
	pid_t			 he_broker;
};

int	stdio_main(struct config *, const char *);
int	supervisor_main(struct config *, struct config *);
void	handler_main(struct handler_env *) __attribute__((noreturn));

int	listen_open(struct listener *, const struct config *);
int	listen_check(const struct config *);
int	status_check(const char *);
int	listen_start(struct listener *);
void	listen_close(struct listener *);
void	listen_shut(struct listener *);
int	listen_quiesce(struct listener *);
int	listen_queued(const struct listener *);
void	listen_name(const struct sockaddr *, char *, size_t);

int	 tls_init(const struct config *, SSL_CTX **);
SSL	*tls_accept(SSL_CTX *, int, int, int, char *, size_t);
void	tls_close(SSL *);
const char *tls_error(void);
long	tls_read(void *, char *, size_t);
long	tls_write(void *, const char *, size_t);

#endif
