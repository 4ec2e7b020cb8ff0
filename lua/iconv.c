/*
 * string.iconv(s, from, to): convert s between character sets with
 * iconv(3).  Opening a converter loads tables, so the last few are kept
 * open, per process (a handler may get a fresh Lua state per connection),
 * and reset before each use.
 */
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>

#include "slualib.h"

#define ICONV_CACHE	8
#define ICONV_BUFMT	"slua.iconvbuf"

struct iconv_entry {
	char		*ic_from;
	char		*ic_to;
	iconv_t		 ic_cd;
	unsigned long	 ic_used;	/* for least recently used */
};

/* The output, freed by the collector if a Lua error intervenes. */
struct iconv_buf {
	char	*ib_buf;
	size_t	 ib_size;
};

static struct iconv_entry	 iconv_cache[ICONV_CACHE];
static unsigned long		 iconv_clock;

static void
iconv_evict(struct iconv_entry *ic)
{
	if (ic->ic_from == NULL)
		return;
	(void)iconv_close(ic->ic_cd);
	free(ic->ic_from);
	free(ic->ic_to);
	memset(ic, 0, sizeof(*ic));
}

/* The cached converter from from to to, or NULL with errno set. */
static iconv_t
iconv_get(const char *from, const char *to)
{
	struct iconv_entry	*ic, *victim = &iconv_cache[0];
	iconv_t			 cd;
	char			*f, *t;

	for (ic = iconv_cache; ic < iconv_cache + ICONV_CACHE; ic++) {
		if (ic->ic_from != NULL && strcmp(ic->ic_from, from) == 0 &&
		    strcmp(ic->ic_to, to) == 0) {
			ic->ic_used = ++iconv_clock;
			(void)iconv(ic->ic_cd, NULL, NULL, NULL, NULL);
			return ic->ic_cd;
		}
		if (ic->ic_used < victim->ic_used)
			victim = ic;
	}
	if ((cd = iconv_open(to, from)) == (iconv_t)-1)
		return NULL;
	f = strdup(from);
	t = strdup(to);
	if (f == NULL || t == NULL) {
		free(f);
		free(t);
		(void)iconv_close(cd);
		errno = ENOMEM;
		return NULL;
	}
	iconv_evict(victim);
	victim->ic_from = f;
	victim->ic_to = t;
	victim->ic_cd = cd;
	victim->ic_used = ++iconv_clock;
	return cd;
}

static const char *
iconv_checkname(lua_State *L, int arg)
{
	const char	*name;
	size_t		 len;

	name = luaL_checklstring(L, arg, &len);
	luaL_argcheck(L, strlen(name) == len, arg, "name contains a NUL byte");
	return name;
}

static int
iconv_bufgc(lua_State *L)
{
	struct iconv_buf	*ib = lua_touserdata(L, 1);

	free(ib->ib_buf);
	ib->ib_buf = NULL;
	return 0;
}

/* Make room for more output (glibc wants some from the start). */
static int
iconv_grow(struct iconv_buf *ib, char **out, size_t *outleft, size_t hint)
{
	size_t	 used = ib->ib_size - *outleft, size;
	char	*nbuf;

	size = ib->ib_size ? ib->ib_size * 2 : hint + 64;
	if (size <= ib->ib_size || size < hint) {
		errno = ENOMEM;
		return -1;
	}
	if ((nbuf = realloc(ib->ib_buf, size)) == NULL)
		return -1;
	ib->ib_buf = nbuf;
	ib->ib_size = size;
	*out = nbuf + used;
	*outleft = size - used;
	return 0;
}

/*
 * Convert all of s.  No Lua call may run while cd is in use: one could
 * collect garbage, and a __gc metamethod could use (or evict) the same
 * converter.  On failure, errno says why and *done counts the input
 * converted before the bad sequence.
 */
static int
iconv_run(iconv_t cd, const char *s, size_t len, struct iconv_buf *ib,
    size_t *outlen, size_t *done)
{
	char	*in = (char *)s, *out = NULL;
	size_t	 inleft = len, outleft = 0, r = (size_t)-1;
	int	 flush = 0;

	if (iconv_grow(ib, &out, &outleft, len) == -1)
		goto done;
	/* Once all input is in, a NULL input writes any shift back. */
	for (;;) {
		r = iconv(cd, flush ? NULL : &in, &inleft, &out, &outleft);
		/* glibc's //IGNORE reports what it skipped only at the end. */
		if (r == (size_t)-1 && errno == EILSEQ && inleft == 0)
			r = 0;
		if (r == (size_t)-1 && errno == E2BIG) {
			if (iconv_grow(ib, &out, &outleft, len) == -1)
				break;
			continue;
		}
		if (r == (size_t)-1 || flush)
			break;
		flush = 1;
	}
 done:
	*outlen = ib->ib_size - outleft;
	*done = len - inleft;
	return r == (size_t)-1 ? -1 : 0;
}

static int
iconv_convert(lua_State *L)
{
	struct iconv_buf	*ib;
	const char		*s, *from, *to;
	size_t			 len, outlen, done;
	iconv_t			 cd;

	s = luaL_checklstring(L, 1, &len);
	from = iconv_checkname(L, 2);
	to = iconv_checkname(L, 3);
	ib = lua_newuserdata(L, sizeof(*ib));
	memset(ib, 0, sizeof(*ib));
	luaL_getmetatable(L, ICONV_BUFMT);
	lua_setmetatable(L, -2);
	if ((cd = iconv_get(from, to)) == NULL) {
		lua_pushnil(L);
		if (errno == EINVAL)
			lua_pushfstring(L, "iconv: cannot convert from %s to %s",
			    from, to);
		else
			lua_pushfstring(L, "iconv: %s", strerror(errno));
		return 2;
	}
	if (iconv_run(cd, s, len, ib, &outlen, &done) == -1) {
		lua_pushnil(L);
		lua_pushfstring(L, "iconv: %s at position %f",
		    errno == EILSEQ ? "invalid input sequence" :
		    errno == EINVAL ? "incomplete input sequence" :
		    strerror(errno), (lua_Number)done + 1);
		return 2;
	}
	lua_pushlstring(L, ib->ib_buf, outlen);
	free(ib->ib_buf);
	ib->ib_buf = NULL;
	return 1;
}

int
luaopen_slua_iconv(lua_State *L)
{
	luaL_newmetatable(L, ICONV_BUFMT);
	lua_pushcfunction(L, iconv_bufgc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushcfunction(L, iconv_convert);
	lua_setfield(L, -2, "iconv");
	lua_pop(L, 1);
	return 0;
}
