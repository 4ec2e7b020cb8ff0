/*
 * What a config file's values must be for slua to start with them, checked
 * as the file sets them, so the error names the line (common/conffile.c):
 * an address that does not parse, a file that is missing or unreadable, a
 * user that does not exist.  A reload runs these in the supervisor, so
 * none of them waits on the network: a host name is checked for its form
 * here, and resolved by the start, or by slua -n (server/listen.c).
 *
 * Each returns 0, or -1 with the reason in err.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int
confcheck_fail(char *err, size_t len, const char *why)
{
	(void)strlcpy(err, why, len);
	return -1;
}

/*
 * A host name as RFC 1123 spells it (with '_', which /etc/hosts allows):
 * dot-separated labels of letters, digits and '-', the last not all
 * digits, so "999.1.1.1" is a bad address and never a name to look up.
 */
static int
confcheck_hostname(const char *s)
{
	size_t	 i, label = 0, n = strlen(s);
	int	 digits = 1;

	if (n > 0 && s[n - 1] == '.')
		n--;
	if (n == 0 || n > 253)
		return 0;
	for (i = 0; i < n; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return 0;
			label = 0;
			digits = 1;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' &&
		    s[i] != '_')
			return 0;
		if (!isdigit((unsigned char)s[i]))
			digits = 0;
		if (++label > 63)
			return 0;
	}
	return label > 0 && !digits;
}

/* A listen address: IPv4, IPv6 (in brackets or not), or a host name. */
int
confcheck_addr(const char *addr, char *err, size_t len)
{
	struct addrinfo	 hints, *res;
	char		 host[256];
	size_t		 n = strlen(addr);

	if (n >= sizeof(host))
		return confcheck_fail(err, len, "too long");
	/* "[::1]" is "::1", as server/listen.c takes it. */
	if (n > 2 && addr[0] == '[' && addr[n - 1] == ']')
		(void)snprintf(host, sizeof(host), "%.*s", (int)(n - 2),
		    addr + 1);
	else
		(void)strlcpy(host, addr, sizeof(host));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST;
	if (getaddrinfo(host, NULL, &hints, &res) == 0) {
		freeaddrinfo(res);
		return 0;
	}
	if (strchr(host, ':') != NULL)
		return confcheck_fail(err, len, "not an IPv6 address");
	if (host[0] != '\0' && strspn(host, "0123456789.") == strlen(host))
		return confcheck_fail(err, len, "not an IPv4 address");
	if (!confcheck_hostname(host))
		return confcheck_fail(err, len,
		    "not an address or a host name");
	return 0;
}

/* A file the start reads (a certificate, a key): there, and readable. */
static int
confcheck_file(const char *path, char *err, size_t len)
{
	struct stat	 st;

	if (path[0] == '\0')
		return confcheck_fail(err, len, "an empty path");
	if (stat(path, &st) == -1 || access(path, R_OK) == -1)
		return confcheck_fail(err, len, strerror(errno));
	if (S_ISDIR(st.st_mode))
		return confcheck_fail(err, len, strerror(EISDIR));
	return 0;
}

/*
 * A script is a file when it names one or ends in ".lua", as
 * lua/script.c reads it; anything else is Lua code, which the start
 * compiles (and slua -n with it).
 */
static int
confcheck_script(const char *arg, char *err, size_t len)
{
	struct stat	 st;
	size_t		 n = strlen(arg);

	if (stat(arg, &st) == -1 &&
	    (n < 4 || strcmp(arg + n - 4, ".lua") != 0))
		return 0;
	return confcheck_file(arg, err, len);
}

static int
confcheck_user(const char *name, char *err, size_t len)
{
	if (getpwnam(name) == NULL)
		return confcheck_fail(err, len, "no such user");
	return 0;
}

/* A value of the kind (config.h), beyond its type and range. */
int
confcheck(int kind, const char *value, char *err, size_t len)
{
	switch (kind) {
	case CONFIG_TEXT:
		return 0;
	case CONFIG_STRING:
		if (value[0] == '\0')
			return confcheck_fail(err, len, "an empty path");
		return 0;
	case CONFIG_ADDRS:
		return confcheck_addr(value, err, len);
	case CONFIG_FILE:
		return confcheck_file(value, err, len);
	case CONFIG_SCRIPT:
		return confcheck_script(value, err, len);
	case CONFIG_USER:
		return confcheck_user(value, err, len);
	default:
		return 0;
	}
}
