/*
 * The modes that serve clients: stdio mode (server/stdio.c) and tcp mode,
 * whose supervisor (server/supervisor.c) preforks the handlers
 * (server/handler.c).
 */
#ifndef SLUA_SERVER_H
#define SLUA_SERVER_H

struct config;

int	stdio_main(struct config *, const char *);

#endif
