/*
 * json.encode(v) and json.decode(s) on json-c.
 *
 * json-c parses and prints.  Its parser is lenient where slua must not be
 * (NaN, Infinity, single quotes, "1.", "-01", raw control characters and
 * invalid UTF-8 in strings, integers clamped to 64 bits), so decode also
 * scans the tokens and reports whichever finds the first error.
 *
 * The mapping: null is json.null, a NULL light userdata (the same value
 * as lua-cjson's cjson.null); a table whose keys are exactly 1..n is an
 * array, any other table an object, so {} is {}; object keys come out
 * sorted, so equal tables give equal text.
 */
#include <json-c/json.h>

#include "jsonint.h"

static int
json_boxgc(lua_State *L)
{
	struct json_box	*box = lua_touserdata(L, 1);

	json_freebox(box);
	if (box->jb_tok != NULL)
		json_tokener_free(box->jb_tok);
	box->jb_tok = NULL;
	return 0;
}

/* Free the tree now: the collector does not see its size. */
void
json_freebox(struct json_box *box)
{
	json_object_put(box->jb_obj);
	box->jb_obj = NULL;
}

struct json_box *
json_newbox(lua_State *L)
{
	struct json_box	*box;

	box = lua_newuserdata(L, sizeof(*box));
	box->jb_obj = NULL;
	box->jb_tok = NULL;
	luaL_getmetatable(L, JSON_BOXMT);
	lua_setmetatable(L, -2);
	return box;
}

/* The length of the UTF-8 sequence at p (RFC 3629), or 0 if invalid. */
size_t
json_utf8(const unsigned char *p, size_t n)
{
	unsigned char	 lo = 0x80, hi = 0xbf;
	size_t		 len, i;

	if (p[0] < 0x80)
		return 1;
	if (p[0] < 0xc2)
		return 0;
	if (p[0] < 0xe0)
		len = 2;
	else if (p[0] < 0xf0) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] < 0xf5) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

int
json_isutf8(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n;

	while (i < len) {
		if (p[i] < 0x80)
			n = 1;
		else if ((n = json_utf8(p + i, len - i)) == 0)
			return 0;
		i += n;
	}
	return 1;
}

int
json_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static const luaL_Reg json_funcs[] = {
	{ "encode",	json_encode },
	{ NULL,		NULL }
};

int
luaopen_slua_json(lua_State *L)
{
	const char	*name = luaL_checkstring(L, 1);

	luaL_newmetatable(L, JSON_BOXMT);
	lua_pushcfunction(L, json_boxgc);
	lua_setfield(L, -2, "__gc");
	lua_pop(L, 1);
	luaL_register(L, name, json_funcs);
	/* Each state has its tokener: its stack is JSON_MAXDEPTH deep. */
	json_newbox(L);
	lua_pushcclosure(L, json_decode, 1);
	lua_setfield(L, -2, "decode");
	lua_pushlightuserdata(L, NULL);
	lua_setfield(L, -2, "null");
	lua_pop(L, 1);
	return 0;
}

