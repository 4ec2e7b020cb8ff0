/*
 * The config file, slua.conf(5): a Lua chunk run in an empty environment,
 * where each global it sets is a setting named like a long option, with
 * '_' for '-':
 *
 *	port = 9000
 *	listen = { "127.0.0.1", "::1" }
 *	max_job_size = "16m"
 *	handler = "/etc/slua/handler.lua"
 *
 * Assignments are checked as they run, so an unknown name, a value of the
 * wrong type, out of range (common/config.c) or one the start would
 * refuse (common/confcheck.c) is reported with the file and line that set
 * it.  The chunk runs in a bare Lua state: it can compute values, but not
 * reach the system.
 *
 * The supervisor runs the file at start and on every HUP, and must not
 * be kept by it, so the file's evaluation is bounded (config.h): its
 * text is read whole, and must be text, not a precompiled chunk, which
 * lua_load would take on trust; the state's allocator counts what it
 * holds, with the values the file sets; a hook counts instructions and
 * keeps the line running for the message.  Going over a bound is an
 * error in the file like any other: slua -n fails, a reload is refused.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#include "config.h"
#include "log.h"

/* One file's evaluation. */
struct conf_eval {
	const char	*ce_path;
	struct config	*ce_cf;
	char		*ce_buf;		/* the text */
	size_t		 ce_len;
	lua_Alloc	 ce_alloc;		/* the state's own allocator, */
	void		*ce_allocud;		/* which ours calls */
	long long	 ce_used;		/* bytes, since ours took over */
	long		 ce_steps;
	struct timespec	 ce_wall;		/* when it started, */
	struct timespec	 ce_cpu;		/* and the thread's CPU clock */
	int		 ce_sets;
	int		 ce_line;		/* the line running; 0: none */
	enum {
		CONF_OK,
		CONF_STEPS,
		CONF_CPU,
		CONF_MEMORY
	}		 ce_over;
};

/* The hook has no user data: the one evaluation running. */
static struct conf_eval	*conf_running;

/* Strings a config file gave us; they live as long as the process. */
static char	**conf_strings;
static size_t	  conf_nstrings;

static void *
conf_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct conf_eval	*ce = ud;
	void			*p;

	if (ptr == NULL)
		osize = 0;
	if (nsize > osize &&
	    ce->ce_used + (long long)(nsize - osize) > CONFIG_MAXMEMORY) {
		ce->ce_over = CONF_MEMORY;
		return NULL;
	}
	p = ce->ce_alloc(ce->ce_allocud, ptr, osize, nsize);
	if (p != NULL || nsize == 0)
		ce->ce_used += (long long)nsize - (long long)osize;
	return p;
}

/* The ms on clock since start. */
static long long
conf_ms(clockid_t clock, const struct timespec *start)
{
	struct timespec	 now;

	if (clock_gettime(clock, &now) == -1)
		return 0;
	return (now.tv_sec - start->tv_sec) * 1000LL +
	    (now.tv_nsec - start->tv_nsec) / 1000000;
}

/*
 * At every line, and every instruction: one instruction may compare two
 * strings of megabytes, so the clock is read at each, not every so many.
 * The CPU clock is a system call, the wall clock not: only once the wall
 * clock is past the bound can the CPU clock be.
 */
static void
conf_hook(lua_State *L, lua_Debug *ar)
{
	struct conf_eval	*ce = conf_running;

	if (ar->event == LUA_HOOKLINE) {
		ce->ce_line = ar->currentline;
		return;
	}
	if (++ce->ce_steps > CONFIG_MAXSTEPS)
		ce->ce_over = CONF_STEPS;
	else if (conf_ms(CLOCK_MONOTONIC, &ce->ce_wall) > CONFIG_MAXCPU_MS &&
	    conf_ms(CLOCK_THREAD_CPUTIME_ID, &ce->ce_cpu) > CONFIG_MAXCPU_MS)
		ce->ce_over = CONF_CPU;
	else
		return;
	if (lua_getinfo(L, "l", ar) && ar->currentline > 0)
		ce->ce_line = ar->currentline;
	lua_pushliteral(L, "over the time bound");
	lua_error(L);
}

static const char *
conf_keep(lua_State *L, const char *s)
{
	struct conf_eval	*ce = conf_running;
	size_t			 len = strlen(s) + 1;
	char			**n;
	char			 *copy;

	/* What the file sets is memory it holds too. */
	if (ce->ce_used + (long long)len > CONFIG_MAXMEMORY) {
		ce->ce_over = CONF_MEMORY;
		luaL_error(L, "over the memory bound");
	}
	n = reallocarray(conf_strings, conf_nstrings + 1, sizeof(*n));
	if (n == NULL)
		luaL_error(L, "not enough memory");
	conf_strings = n;
	if ((copy = strdup(s)) == NULL)
		luaL_error(L, "not enough memory");
	conf_strings[conf_nstrings++] = copy;
	ce->ce_used += (long long)len;
	return copy;
}

/* Free the strings kept since there were n: a file that failed set them. */
static void
conf_forget(size_t n)
{
	while (conf_nstrings > n)
		free(conf_strings[--conf_nstrings]);
}

void
config_file_free(void)
{
	conf_forget(0);
	free(conf_strings);
	conf_strings = NULL;
}

/* An error at the line of the file that is running, as luaL_error. */
static void
conf_raise(lua_State *L, const char *fmt, ...)
{
	va_list	 ap;

	luaL_where(L, 1);
	va_start(ap, fmt);
	(void)lua_pushvfstring(L, fmt, ap);
	va_end(ap);
	lua_concat(L, 2);
	lua_error(L);
}

/* The settings a table may give more than one value. */
static int
conf_islist(const char *name)
{
	return strcmp(name, "listen") == 0 ||
	    strcmp(name, "tls_cert") == 0 || strcmp(name, "tls_key") == 0 ||
	    strcmp(name, "ssl_cert") == 0 || strcmp(name, "ssl_key") == 0;
}

/* The value at idx as a string, if it is of the kind the setting takes. */
static const char *
conf_value(lua_State *L, int idx, const char *name, int kind)
{
	int	 type = lua_type(L, idx);

	if (kind == CONFIG_FLAG && type == LUA_TBOOLEAN)
		return lua_toboolean(L, idx) ? "true" : "false";
	if ((kind == CONFIG_NUMBER && type == LUA_TNUMBER) ||
	    (kind != CONFIG_FLAG && type == LUA_TSTRING))
		return conf_keep(L, lua_tostring(L, idx));
	conf_raise(L, "%s: a %s is no value for this setting", name,
	    lua_typename(L, type));
	return NULL;
}

/*
 * name = value, once its type is right: its range (common/config.c),
 * then what the start needs of it (common/confcheck.c), named as the
 * command line's option, as config.c names it.
 */
static void
conf_one(lua_State *L, const char *name, int kind, const char *value)
{
	char	 opt[64], why[256];
	size_t	 i;

	(void)config_setting(conf_running->ce_cf, L, name, value);
	if (confcheck(kind, value, why, sizeof(why)) == 0)
		return;
	(void)strlcpy(opt, name, sizeof(opt));
	for (i = 0; opt[i] != '\0'; i++)
		if (opt[i] == '_')
			opt[i] = '-';
	conf_raise(L, "%s %s: %s", opt, value, why);
}

/* listen = { "a", "b" }: a list, of one address or more, and no more. */
static void
conf_list(lua_State *L, int idx, const char *name, int kind)
{
	lua_Number	 k;
	int		 i, n = (int)lua_objlen(L, idx), keys = 0;

	lua_pushnil(L);
	while (lua_next(L, idx) != 0) {
		lua_pop(L, 1);
		keys++;
		k = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
		if (k < 1 || k > n || k != (int)k)
			conf_raise(L, "%s: a list has no keys but 1, 2, ...",
			    name);
	}
	if (keys == 0)
		conf_raise(L, "%s: an empty list", name);
	if (keys != n)
		conf_raise(L, "%s: a list has no holes", name);
	for (i = 1; i <= n; i++) {
		lua_rawgeti(L, idx, i);
		conf_one(L, name, kind, conf_value(L, -1, name, kind));
		lua_pop(L, 1);
	}
}

/* __newindex of the file's environment: one setting. */
static int
conf_set(lua_State *L)
{
	const char	*name = luaL_checkstring(L, 2);
	int		 kind;

	if (++conf_running->ce_sets > CONFIG_MAXSETS)
		conf_raise(L, "more than %d assignments to settings",
		    CONFIG_MAXSETS);
	if ((kind = config_kind(name)) == -1)
		conf_raise(L, "unknown setting '%s'", name);
	if (conf_islist(name) && lua_istable(L, 3))
		conf_list(L, 3, name, kind);
	else
		conf_one(L, name, kind, conf_value(L, 3, name, kind));
	return 0;
}

static int
conf_run(lua_State *L)
{
	struct conf_eval	*ce = conf_running;
	char			 chunkname[1024];

	(void)snprintf(chunkname, sizeof(chunkname), "@%s", ce->ce_path);
	if (luaL_loadbuffer(L, ce->ce_buf, ce->ce_len, chunkname) != 0)
		return lua_error(L);
	lua_newtable(L);			/* the environment */
	lua_newtable(L);			/* its metatable */
	lua_pushcfunction(L, conf_set);
	lua_setfield(L, -2, "__newindex");
	lua_setmetatable(L, -2);
	lua_setfenv(L, -2);
	lua_call(L, 0, 0);
	return 0;
}

/*
 * The text, whole, in ce_buf: at most CONFIG_MAXFILE bytes, one more
 * telling it is too large.  The size is where the buffer starts, since a
 * device or a file being written has none to trust.
 */
static int
conf_slurp(struct conf_eval *ce, int fd, off_t size)
{
	size_t	 cap = 0;
	char	*nbuf;
	ssize_t	 n;

	for (;;) {
		if (ce->ce_len == cap) {
			if (cap > CONFIG_MAXFILE)
				return 0;
			if (cap == 0)
				cap = size < 4096 ? 4096 : (size_t)size + 1;
			else
				cap *= 2;
			if (cap > CONFIG_MAXFILE + 1)
				cap = CONFIG_MAXFILE + 1;
			if ((nbuf = realloc(ce->ce_buf, cap)) == NULL)
				return -1;
			ce->ce_buf = nbuf;
		}
		n = read(fd, ce->ce_buf + ce->ce_len, cap - ce->ce_len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			return 0;
		ce->ce_len += n;
	}
}

/*
 * Read the file whole, within the bound, without waiting on a FIFO or a
 * terminal (O_NONBLOCK), and see that it is text.  -1 when not, logged.
 */
static int
conf_read(struct conf_eval *ce)
{
	struct stat	 st;
	char		*nl;
	int		 fd;

	if ((fd = open(ce->ce_path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)) == -1)
		goto syserr;
	if (fstat(fd, &st) == -1)
		goto syserr;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto syserr;
	}
	if (conf_slurp(ce, fd, st.st_size) == -1)
		goto syserr;
	(void)close(fd);
	if (ce->ce_len > CONFIG_MAXFILE) {
		log_warnx("%s: config file too large (the bound is %d bytes)",
		    ce->ce_path, CONFIG_MAXFILE);
		return -1;
	}
	/* Like lua(1), a first line starting with '#' is a "#!" line. */
	nl = ce->ce_buf;
	if (ce->ce_len > 0 && ce->ce_buf[0] == '#') {
		if ((nl = memchr(ce->ce_buf, '\n', ce->ce_len)) == NULL)
			nl = ce->ce_buf + ce->ce_len;
		memset(ce->ce_buf, ' ', nl - ce->ce_buf);
		if (nl < ce->ce_buf + ce->ce_len)
			nl++;
	}
	if (nl < ce->ce_buf + ce->ce_len && *nl == LUA_SIGNATURE[0]) {
		log_warnx("%s: a precompiled chunk: a config file must be "
		    "Lua text", ce->ce_path);
		return -1;
	}
	return 0;
 syserr:
	log_warn("%s", ce->ce_path);
	if (fd != -1)
		(void)close(fd);
	return -1;
}

static void
conf_report(struct conf_eval *ce, const char *msg)
{
	char	 where[32] = "";

	if (ce->ce_line > 0)
		(void)snprintf(where, sizeof(where), ":%d", ce->ce_line);
	if (ce->ce_over == CONF_STEPS)
		log_warnx("%s%s: config runs too long (the bound is %d "
		    "instructions)", ce->ce_path, where, CONFIG_MAXSTEPS);
	else if (ce->ce_over == CONF_CPU)
		log_warnx("%s%s: config runs too long (the bound is %d ms of "
		    "CPU time)", ce->ce_path, where, CONFIG_MAXCPU_MS);
	else if (ce->ce_over == CONF_MEMORY)
		log_warnx("%s%s: config holds too much memory (the bound is "
		    "%d MiB)", ce->ce_path, where, CONFIG_MAXMEMORY >> 20);
	else
		log_warnx("%s", msg ? msg : "error in config file");
}

/*
 * Read path and fill what cf left unset.  When the file is the default
 * one (must == 0), its absence is no error.  Errors are logged.
 */
int
config_file(struct config *cf, const char *path, int must)
{
	struct config	 file;
	struct conf_eval ce;
	lua_State	*L;
	size_t		 kept = conf_nstrings;
	int		 status;

	if (!must && access(path, F_OK) == -1 && errno == ENOENT)
		return 0;
	memset(&ce, 0, sizeof(ce));
	ce.ce_path = path;
	ce.ce_cf = &file;
	if (conf_read(&ce) == -1) {
		free(ce.ce_buf);
		return -1;
	}
	config_init(&file);
	if ((L = luaL_newstate()) == NULL) {
		/* A reload's: the running generation goes on. */
		log_warnx("%s: not enough memory", path);
		free(ce.ce_buf);
		return -1;
	}
	/* The state's own allocator stays, under ours, which counts. */
	ce.ce_alloc = lua_getallocf(L, &ce.ce_allocud);
	lua_setallocf(L, conf_alloc, &ce);
	lua_sethook(L, conf_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
	(void)clock_gettime(CLOCK_MONOTONIC, &ce.ce_wall);
	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ce.ce_cpu);
	conf_running = &ce;
	status = lua_cpcall(L, conf_run, NULL);
	conf_running = NULL;
	if (status != 0)
		conf_report(&ce, lua_tostring(L, -1));
	lua_close(L);
	free(ce.ce_buf);
	if (status != 0) {
		conf_forget(kept);
		return -1;
	}
	config_merge(cf, &file);
	return 0;
}
