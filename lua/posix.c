/*
 * The file system and the clock: io.ls(path), io.stat(path) and
 * os.usleep(us).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "slualib.h"

#define POSIX_DIRMT	"slua.dir"
#define USLEEP_MAX	1e15	/* microseconds: about 31 years */

/* An open directory, closed by the collector if a Lua error intervenes. */
struct posix_dir {
	DIR	*pd_dir;
};

static int
posix_fail(lua_State *L, const char *path)
{
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", path, strerror(errno));
	return 2;
}

static const char *
posix_checkpath(lua_State *L, int arg)
{
	const char	*path;
	size_t		 len;

	path = luaL_checklstring(L, arg, &len);
	luaL_argcheck(L, strlen(path) == len, arg, "path contains a NUL byte");
	return path;
}

static int
posix_dirgc(lua_State *L)
{
	struct posix_dir	*pd = lua_touserdata(L, 1);

	if (pd->pd_dir != NULL)
		(void)closedir(pd->pd_dir);
	pd->pd_dir = NULL;
	return 0;
}

static int
posix_namecmp(const void *a, const void *b)
{
	return strcmp(*(const char * const *)a, *(const char * const *)b);
}

/*
 * Replace the table of n names on top of the stack by a sorted copy: a
 * new table, since overwriting the old one could let the collector free
 * a name before it is copied.
 */
static void
posix_sort(lua_State *L, int n)
{
	const char	**names;
	int		  i;

	names = lua_newuserdata(L, n * sizeof(*names) + 1);
	for (i = 0; i < n; i++) {
		lua_rawgeti(L, -2, i + 1);
		names[i] = lua_tostring(L, -1);
		lua_pop(L, 1);		/* still referenced by the table */
	}
	qsort(names, n, sizeof(*names), posix_namecmp);
	lua_createtable(L, n, 0);
	for (i = 0; i < n; i++) {
		lua_pushstring(L, names[i]);
		lua_rawseti(L, -2, i + 1);
	}
	lua_replace(L, -3);
	lua_pop(L, 1);
}

static int
posix_ls(lua_State *L)
{
	struct posix_dir	*pd;
	struct dirent		*de;
	const char		*path;
	int			 n = 0;

	path = posix_checkpath(L, 1);
	pd = lua_newuserdata(L, sizeof(*pd));
	pd->pd_dir = NULL;
	luaL_getmetatable(L, POSIX_DIRMT);
	lua_setmetatable(L, -2);
	if ((pd->pd_dir = opendir(path)) == NULL)
		return posix_fail(L, path);
	lua_newtable(L);
	for (;;) {
		errno = 0;
		if ((de = readdir(pd->pd_dir)) == NULL)
			break;
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		lua_pushstring(L, de->d_name);
		lua_rawseti(L, -2, ++n);
	}
	if (errno != 0)
		return posix_fail(L, path);
	(void)closedir(pd->pd_dir);
	pd->pd_dir = NULL;
	posix_sort(L, n);
	return 1;
}

static const char *
posix_type(mode_t m)
{
	switch (m & S_IFMT) {
	case S_IFREG:
		return "file";
	case S_IFDIR:
		return "directory";
	case S_IFLNK:
		return "link";
	case S_IFSOCK:
		return "socket";
	case S_IFIFO:
		return "fifo";
	case S_IFCHR:
		return "char";
	case S_IFBLK:
		return "block";
	}
	return "unknown";
}

/* The mode as ls -l shows it, with s/S and t/T for the special bits. */
static void
posix_modestr(mode_t m, char s[11])
{
	static const char	 types[] = "?pc?d?b?-?l?s???";
	static const char	 rwx[] = "rwxrwxrwx";
	int			 i;

	s[0] = types[(m & S_IFMT) >> 12];
	for (i = 0; i < 9; i++)
		s[i + 1] = (m & (0400 >> i)) ? rwx[i] : '-';
	if (m & S_ISUID)
		s[3] = (m & S_IXUSR) ? 's' : 'S';
	if (m & S_ISGID)
		s[6] = (m & S_IXGRP) ? 's' : 'S';
	if (m & S_ISVTX)
		s[9] = (m & S_IXOTH) ? 't' : 'T';
	s[10] = '\0';
}

/*
 * Set field to the name of user (or group) id, or to the number when it
 * has none.  The _r calls fill our own buffer: a __gc metamethod run by
 * an allocation could call getpwuid and reuse a static one.
 */
static void
posix_setid(lua_State *L, const char *field, int group, unsigned long id)
{
	struct passwd	 pw, *pwp = NULL;
	struct group	 gr, *grp = NULL;
	char		*buf;
	size_t		 size;
	int		 e;

	for (size = 1024; ; size *= 2) {
		buf = lua_newuserdata(L, size);
		if (group)
			e = getgrgid_r(id, &gr, buf, size, &grp);
		else
			e = getpwuid_r(id, &pw, buf, size, &pwp);
		if (e != ERANGE || size >= 1024 * 1024)
			break;
		lua_pop(L, 1);
	}
	if (grp != NULL)
		lua_pushstring(L, grp->gr_name);
	else if (pwp != NULL)
		lua_pushstring(L, pwp->pw_name);
	else
		lua_pushfstring(L, "%f", (lua_Number)id);
	lua_setfield(L, -3, field);
	lua_pop(L, 1);
}

static void
posix_setnum(lua_State *L, const char *field, lua_Number n)
{
	lua_pushnumber(L, n);
	lua_setfield(L, -2, field);
}

/* Push the target of link path; a /proc link may report size 0. */
static int
posix_target(lua_State *L, const char *path, size_t size)
{
	char	*buf;
	ssize_t	 n;

	for (size = size < 64 ? 64 : size + 1; ; size *= 2) {
		buf = lua_newuserdata(L, size);
		if ((n = readlink(path, buf, size)) == -1)
			return -1;
		if ((size_t)n < size)
			break;
		lua_pop(L, 1);
	}
	lua_pushlstring(L, buf, n);
	lua_replace(L, -2);
	return 0;
}

static int
posix_stat(lua_State *L)
{
	struct stat	 st;
	const char	*path;
	char		 mode[11];

	path = posix_checkpath(L, 1);
	if (lstat(path, &st) == -1)
		return posix_fail(L, path);
	lua_createtable(L, 0, 14);
	lua_pushstring(L, posix_type(st.st_mode));
	lua_setfield(L, -2, "type");
	posix_modestr(st.st_mode, mode);
	lua_pushstring(L, mode);
	lua_setfield(L, -2, "mode");
	posix_setnum(L, "perm", st.st_mode & 07777);
	posix_setnum(L, "size", st.st_size);
	posix_setnum(L, "uid", st.st_uid);
	posix_setnum(L, "gid", st.st_gid);
	posix_setid(L, "user", 0, st.st_uid);
	posix_setid(L, "group", 1, st.st_gid);
	posix_setnum(L, "nlink", st.st_nlink);
	posix_setnum(L, "atime", st.st_atime);
	posix_setnum(L, "mtime", st.st_mtime);
	posix_setnum(L, "ctime", st.st_ctime);
	if (S_ISLNK(st.st_mode)) {
		if (posix_target(L, path, st.st_size) == -1)
			return posix_fail(L, path);
		lua_setfield(L, -2, "target");
	}
	return 1;
}

/* Sleep the whole time: a signal that interrupts only shortens a step. */
static int
posix_usleep(lua_State *L)
{
	struct timespec	 ts, rem;
	lua_Number	 us;

	us = luaL_checknumber(L, 1);
	luaL_argcheck(L, !(us < 0), 1, "negative duration");
	luaL_argcheck(L, us <= USLEEP_MAX, 1, "duration out of range");
	ts.tv_sec = us / 1e6;
	ts.tv_nsec = (us - ts.tv_sec * 1e6) * 1e3;
	if (ts.tv_nsec > 999999999)
		ts.tv_nsec = 999999999;
	while (nanosleep(&ts, &rem) == -1) {
		if (errno != EINTR) {
			lua_pushnil(L);
			lua_pushfstring(L, "usleep: %s", strerror(errno));
			return 2;
		}
		ts = rem;
	}
	return 0;
}

static const luaL_Reg posix_io[] = {
	{ "ls",		posix_ls },
	{ "stat",	posix_stat },
	{ NULL,		NULL }
};

static const luaL_Reg posix_os[] = {
	{ "usleep",	posix_usleep },
	{ NULL,		NULL }
};

int
luaopen_slua_posix(lua_State *L)
{
	luaL_newmetatable(L, POSIX_DIRMT);
	lua_pushcfunction(L, posix_dirgc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_register(L, LUA_IOLIBNAME, posix_io);
	luaL_register(L, LUA_OSLIBNAME, posix_os);
	lua_pop(L, 2);
	return 0;
}
