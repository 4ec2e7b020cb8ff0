/*
 * client.*: the handler's connection.  In stdio mode it is standard input
 * and output; in tcp mode the accepted socket, perhaps under TLS.
 */
#ifndef SLUA_CLIENT_H
#define SLUA_CLIENT_H

#include <stddef.h>

#include "slualib.h"

struct client_io {
	/* Read or write up to len bytes: count, 0 at end, -1 and errno. */
	long	(*io_read)(void *, char *, size_t);
	long	(*io_write)(void *, const char *, size_t);
	void	 *io_ctx;
	int	  io_rfd;	/* to poll for reading */
	int	  io_wfd;	/* ... and writing */
};

void	client_open(const struct client_io *, int, size_t, size_t);
void	client_close(void);
struct timespec;
void	client_deadline(const struct timespec *, int);
void	client_expire(void);
int	client_preload(const char *, size_t, int);
int	client_drained(void);
int	client_ended(void);
void	client_keepable(int);
int	client_kept(void);
void	client_leftover(const char **, size_t *);
struct sockaddr_storage;
void	client_setpeer(int, const struct sockaddr_storage *);
void	client_setconn(int, const char *);
int	client_writeall(void *, const char *, size_t);
int	luaopen_slua_client(lua_State *);

#endif
