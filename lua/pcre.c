/*
 * string.pcrematch(subject, pattern) on PCRE2.
 *
 * Patterns are UTF-8 (PCRE2_UTF); subjects may hold any bytes, because
 * PCRE2_MATCH_INVALID_UTF makes an invalid sequence a place where nothing
 * matches instead of an error.  Compiled patterns, JIT-compiled where the
 * library can, stay in a per-process cache that outlives Lua states: a
 * handler may get a fresh state per connection but keeps its patterns.
 */
#define PCRE2_CODE_UNIT_WIDTH	8

#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "slualib.h"

#define PCRE_CACHE	64
#define PCRE_JITSTACK	(1024 * 1024)	/* deepest JIT backtracking */
#define PCRE_SMALL	16		/* captures copied on the C stack */

struct pcre_entry {
	char			*pe_pat;	/* NULL: a free slot */
	size_t			 pe_len;
	pcre2_code		*pe_code;
	pcre2_match_data	*pe_md;
	uint32_t		 pe_ncap;
	unsigned long		 pe_used;	/* for least recently used */
};

static struct pcre_entry	 pcre_cache[PCRE_CACHE];
static unsigned long		 pcre_clock;
static pcre2_match_context	*pcre_mctx;

static void
pcre_evict(struct pcre_entry *pe)
{
	if (pe->pe_pat == NULL)
		return;
	pcre2_match_data_free(pe->pe_md);
	pcre2_code_free(pe->pe_code);
	free(pe->pe_pat);
	memset(pe, 0, sizeof(*pe));
}

/* A bigger JIT stack than the default 32 KiB; without one, the default. */
static pcre2_match_context *
pcre_context(void)
{
	pcre2_jit_stack	*js;

	if (pcre_mctx != NULL)
		return pcre_mctx;
	if ((pcre_mctx = pcre2_match_context_create(NULL)) == NULL)
		return NULL;
	if ((js = pcre2_jit_stack_create(32 * 1024, PCRE_JITSTACK,
	    NULL)) != NULL)
		pcre2_jit_stack_assign(pcre_mctx, NULL, js);
	return pcre_mctx;
}

static int
pcre_compile_error(lua_State *L, int code, PCRE2_SIZE offset)
{
	PCRE2_UCHAR	 msg[256];

	if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0)
		(void)strcpy((char *)msg, "unknown error");
	return luaL_error(L, "pcrematch: %s at offset %d", (char *)msg,
	    (int)offset);
}

/* Compile pat into the least recently used slot; errors are Lua errors. */
static struct pcre_entry *
pcre_compile(lua_State *L, struct pcre_entry *pe, const char *pat,
    size_t len)
{
	pcre2_code		*code;
	pcre2_match_data	*md;
	PCRE2_SIZE		 offset;
	uint32_t		 ncap;
	char			*copy;
	int			 error;

	code = pcre2_compile((PCRE2_SPTR)pat, len,
	    PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &error, &offset, NULL);
	if (code == NULL)
		pcre_compile_error(L, error, offset);	/* NOTREACHED */
	/* Without JIT support, or for this pattern, the interpreter runs. */
	(void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
	(void)pcre2_pattern_info(code, PCRE2_INFO_CAPTURECOUNT, &ncap);
	md = pcre2_match_data_create_from_pattern(code, NULL);
	copy = malloc(len + 1);
	if (md == NULL || copy == NULL) {
		pcre2_match_data_free(md);
		pcre2_code_free(code);
		free(copy);
		luaL_error(L, "pcrematch: not enough memory");
		/* NOTREACHED */
	}
	memcpy(copy, pat, len);
	copy[len] = '\0';
	pcre_evict(pe);
	pe->pe_pat = copy;
	pe->pe_len = len;
	pe->pe_code = code;
	pe->pe_md = md;
	pe->pe_ncap = ncap;
	return pe;
}

static struct pcre_entry *
pcre_lookup(lua_State *L, const char *pat, size_t len)
{
	struct pcre_entry	*pe, *victim = &pcre_cache[0];

	for (pe = pcre_cache; pe < pcre_cache + PCRE_CACHE; pe++) {
		if (pe->pe_pat != NULL && pe->pe_len == len &&
		    memcmp(pe->pe_pat, pat, len) == 0)
			break;
		if (pe->pe_used < victim->pe_used)
			victim = pe;
	}
	if (pe == pcre_cache + PCRE_CACHE)
		pe = pcre_compile(L, victim, pat, len);
	pe->pe_used = ++pcre_clock;
	return pe;
}

static int
pcre_error(lua_State *L, int rc)
{
	PCRE2_UCHAR	 msg[256];

	if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
		(void)strcpy((char *)msg, "unknown error");
	lua_pushnil(L);
	lua_pushfstring(L, "pcrematch: %s", (char *)msg);
	return 2;
}

static int
pcre_match(lua_State *L)
{
	struct pcre_entry	*pe;
	PCRE2_SIZE		 small[2 * (PCRE_SMALL + 1)], *ov = small;
	const char		*s, *pat;
	size_t			 len, patlen;
	unsigned long		 clock;
	uint32_t		 i, ncap;
	int			 rc;

	s = luaL_checklstring(L, 1, &len);
	pat = luaL_checklstring(L, 2, &patlen);
	pe = pcre_lookup(L, pat, patlen);
	ncap = pe->pe_ncap;
	luaL_checkstack(L, ncap + 2, "pcrematch: too many captures");
	if (ncap > PCRE_SMALL) {
		clock = pcre_clock;
		ov = lua_newuserdata(L, 2 * (ncap + 1) * sizeof(*ov));
		/* The allocation may run a __gc that used the cache. */
		if (pcre_clock != clock)
			pe = pcre_lookup(L, pat, patlen);
	}
	/* From the match to the copy, no Lua call: pe_md is shared. */
	rc = pcre2_match(pe->pe_code, (PCRE2_SPTR)s, len, 0, 0, pe->pe_md,
	    pcre_context());
	if (rc == PCRE2_ERROR_NOMATCH) {
		lua_pushnil(L);
		return 1;
	}
	if (rc < 0)
		return pcre_error(L, rc);
	memcpy(ov, pcre2_get_ovector_pointer(pe->pe_md),
	    2 * (ncap + 1) * sizeof(*ov));
	if (rc == 0)		/* cannot happen: md fits the pattern */
		rc = ncap + 1;
	/* A group that took no part is false, so later ones keep their place. */
	for (i = 0; i <= ncap; i++) {
		if (i >= (uint32_t)rc || ov[2 * i] == PCRE2_UNSET)
			lua_pushboolean(L, 0);
		else if (ov[2 * i] > ov[2 * i + 1])	/* \K in a lookaround */
			lua_pushliteral(L, "");
		else
			lua_pushlstring(L, s + ov[2 * i],
			    ov[2 * i + 1] - ov[2 * i]);
	}
	return ncap + 1;
}

int
luaopen_slua_pcre(lua_State *L)
{
	lua_getglobal(L, LUA_STRLIBNAME);
	lua_pushcfunction(L, pcre_match);
	lua_setfield(L, -2, "pcrematch");
	lua_pop(L, 1);
	return 0;
}
