/*
 * json.encode(v): the Lua value is built into a json-c tree, which a box
 * on the Lua stack owns, then printed.  A failure names the path of the
 * value that cannot be encoded, as a Lua programmer writes it.
 */
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonint.h"

/* Each open table, and which of its members is being encoded. */
struct json_level {
	const void	*jl_table;
	const char	*jl_key;	/* NULL: the element jl_index */
	size_t		 jl_keylen;
	size_t		 jl_index;
};

struct json_enc {
	lua_State		*je_L;
	struct json_box		*je_box;
	int			 je_depth;
	struct json_level	 je_level[JSON_MAXDEPTH];
};

struct json_key {
	const char	*jk_s;
	size_t		 jk_len;
	int		 jk_i;		/* where the value is */
};

static int	json_enc(struct json_enc *, int, struct json_object *,
		    const char *);

static int
json_isname(const char *s, size_t len)
{
	size_t	 i;

	if (len == 0 || json_isdigit(s[0]))
		return 0;
	for (i = 0; i < len; i++)
		if (!json_isdigit(s[i]) && s[i] != '_' &&
		    !(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z'))
			return 0;
	return 1;
}

/* The path as a Lua programmer writes it: .a.b[2]["a key"]. */
static void
json_addpath(luaL_Buffer *b, const struct json_enc *e)
{
	const struct json_level	*jl;
	char			 num[32];
	size_t			 i;
	int			 d;

	for (d = 0; d < e->je_depth; d++) {
		jl = &e->je_level[d];
		if (jl->jl_key == NULL) {
			(void)snprintf(num, sizeof(num), "[%zu]",
			    jl->jl_index);
			luaL_addstring(b, num);
		} else if (json_isname(jl->jl_key, jl->jl_keylen)) {
			luaL_addchar(b, '.');
			luaL_addlstring(b, jl->jl_key, jl->jl_keylen);
		} else {
			luaL_addstring(b, "[\"");
			for (i = 0; i < jl->jl_keylen; i++) {
				unsigned char c = jl->jl_key[i];

				if (c == '"' || c == '\\')
					luaL_addchar(b, '\\');
				if (c < 0x20 || c == 0x7f) {
					(void)snprintf(num, sizeof(num),
					    "\\%d", c);
					luaL_addstring(b, num);
				} else
					luaL_addchar(b, c);
			}
			luaL_addstring(b, "\"]");
		}
	}
}

/* Push "json.encode: what at path"; the encoding stops. */
static int
json_encfail(struct json_enc *e, const char *fmt, ...)
{
	luaL_Buffer	 b;
	va_list		 ap;

	luaL_buffinit(e->je_L, &b);
	luaL_addstring(&b, "json.encode: ");
	va_start(ap, fmt);
	lua_pushvfstring(e->je_L, fmt, ap);
	va_end(ap);
	luaL_addvalue(&b);
	if (e->je_depth > 0) {
		luaL_addstring(&b, " at ");
		json_addpath(&b, e);
	}
	luaL_pushresult(&b);
	return -1;
}

/* Hang obj under parent (the box holds the root) before filling it. */
static void
json_attach(struct json_enc *e, struct json_object *parent,
    const char *key, struct json_object *obj)
{
	int	 rc;

	if (parent == NULL) {
		e->je_box->jb_obj = obj;
		return;
	}
	if (key == NULL)
		rc = json_object_array_add(parent, obj);
	else
		rc = json_object_object_add_ex(parent, key, obj,
		    JSON_C_OBJECT_ADD_KEY_IS_NEW);
	if (rc != 0) {
		json_object_put(obj);
		luaL_error(e->je_L, "json.encode: not enough memory");
	}
}

static struct json_object *
json_new(struct json_enc *e, struct json_object *obj)
{
	if (obj == NULL)
		luaL_error(e->je_L, "json.encode: not enough memory");
	return obj;
}

/* Integers print as integers; others in as few digits as read back. */
static struct json_object *
json_number(struct json_enc *e, lua_Number n)
{
	char	 buf[32];
	int	 prec;

	if (n == floor(n) && n >= -0x1p63 && n < 0x1p63)
		return json_new(e, json_object_new_int64((int64_t)n));
	for (prec = 15; prec < 17; prec++) {
		(void)snprintf(buf, sizeof(buf), "%.*g", prec, n);
		if (strtod(buf, NULL) == n)
			break;
	}
	if (prec == 17)
		(void)snprintf(buf, sizeof(buf), "%.17g", n);
	return json_new(e, json_object_new_double_s(n, buf));
}

/* 0 when the keys of table t are not exactly 1..n; *count counts them. */
static size_t
json_arraylen(lua_State *L, int t, size_t *count)
{
	lua_Number	 k, max = 0;
	int		 array = 1;

	*count = 0;
	lua_pushnil(L);
	while (lua_next(L, t) != 0) {
		lua_pop(L, 1);
		(*count)++;
		if (!array)
			continue;
		if (lua_type(L, -1) != LUA_TNUMBER) {
			array = 0;
			continue;
		}
		k = lua_tonumber(L, -1);
		if (k >= 1 && k == floor(k))
			max = k > max ? k : max;
		else
			array = 0;
	}
	return array && max == *count ? *count : 0;
}

static int
json_keycmp(const void *a, const void *b)
{
	const struct json_key	*ka = a, *kb = b;
	int			 c;

	c = memcmp(ka->jk_s, kb->jk_s,
	    ka->jk_len < kb->jk_len ? ka->jk_len : kb->jk_len);
	if (c != 0)
		return c;
	return (ka->jk_len > kb->jk_len) - (ka->jk_len < kb->jk_len);
}

/*
 * Collect the keys of table t as strings (a number as tostring makes it)
 * and sort them.  Pushes the values, the keys, and the sorted index that
 * it returns; *n is the number of keys.
 */
static struct json_key *
json_keys(struct json_enc *e, int t, size_t *n)
{
	lua_State	*L = e->je_L;
	struct json_key	*keys, *k;
	size_t		 i, max = *n;
	int		 vals;

	lua_createtable(L, max < INT_MAX ? max : 0, 0);
	vals = lua_gettop(L);
	lua_createtable(L, max < INT_MAX ? max : 0, 0);
	keys = lua_newuserdata(L, max * sizeof(*keys) + 1);
	lua_pushnil(L);
	/* Stop at max: a __gc run by an allocation may have grown t. */
	for (i = 0; i < max && lua_next(L, t) != 0; i++) {
		lua_rawseti(L, vals, i + 1);
		if (lua_type(L, -1) != LUA_TSTRING &&
		    lua_type(L, -1) != LUA_TNUMBER) {
			json_encfail(e, "cannot encode %s key",
			    luaL_typename(L, -1));
			return NULL;
		}
		/* Convert a copy: lua_next needs the key as it was. */
		lua_pushvalue(L, -1);
		k = &keys[i];
		k->jk_s = lua_tolstring(L, -1, &k->jk_len);
		k->jk_i = i + 1;
		lua_rawseti(L, vals + 1, i + 1);	/* keeps it alive */
		if (strlen(k->jk_s) != k->jk_len) {
			json_encfail(e, "cannot encode key with a NUL byte");
			return NULL;
		}
		if (!json_isutf8(k->jk_s, k->jk_len)) {
			json_encfail(e, "invalid UTF-8 in key");
			return NULL;
		}
	}
	if (i == max)
		lua_pop(L, 1);		/* the key lua_next did not get to */
	*n = i;
	qsort(keys, i, sizeof(*keys), json_keycmp);
	for (i = 1; i < *n; i++)
		if (json_keycmp(&keys[i - 1], &keys[i]) == 0) {
			json_encfail(e, "duplicate key \"%s\"", keys[i].jk_s);
			return NULL;
		}
	return keys;
}

/* Encode the members: the values and keys json_keys left below. */
static int
json_encobject(struct json_enc *e, struct json_key *keys, size_t n,
    struct json_object *obj)
{
	lua_State		*L = e->je_L;
	struct json_level	*jl = &e->je_level[e->je_depth - 1];
	size_t			 i;

	for (i = 0; i < n; i++) {
		jl->jl_key = keys[i].jk_s;
		jl->jl_keylen = keys[i].jk_len;
		lua_rawgeti(L, -3, keys[i].jk_i);
		if (json_enc(e, lua_gettop(L), obj, keys[i].jk_s) == -1)
			return -1;
		lua_pop(L, 1);
	}
	lua_pop(L, 3);
	return 0;
}

static int
json_encarray(struct json_enc *e, int t, size_t n, struct json_object *arr)
{
	lua_State		*L = e->je_L;
	struct json_level	*jl = &e->je_level[e->je_depth - 1];
	size_t			 i;

	jl->jl_key = NULL;
	for (i = 1; i <= n; i++) {
		jl->jl_index = i;
		lua_rawgeti(L, t, i);
		if (json_enc(e, lua_gettop(L), arr, NULL) == -1)
			return -1;
		lua_pop(L, 1);
	}
	return 0;
}

static int
json_enctable(struct json_enc *e, int t, struct json_object *parent,
    const char *key)
{
	lua_State		*L = e->je_L;
	struct json_object	*obj;
	struct json_key		*keys = NULL;
	const void		*p = lua_topointer(L, t);
	size_t			 n, count;
	int			 d, rc;

	for (d = 0; d < e->je_depth; d++)
		if (e->je_level[d].jl_table == p)
			return json_encfail(e, "cannot encode cycle");
	if (e->je_depth == JSON_MAXDEPTH) {
		e->je_depth = 0;	/* a path 512 deep says little */
		return json_encfail(e, "nesting deeper than %d",
		    JSON_MAXDEPTH);
	}
	luaL_checkstack(L, 8, "json.encode: nesting too deep");
	if ((n = json_arraylen(L, t, &count)) > 0)
		obj = json_new(e, json_object_new_array_ext(n));
	else if ((keys = json_keys(e, t, &count)) == NULL)
		return -1;
	else
		obj = json_new(e, json_object_new_object());
	json_attach(e, parent, key, obj);
	e->je_level[e->je_depth++].jl_table = p;
	if (n > 0)
		rc = json_encarray(e, t, n, obj);
	else
		rc = json_encobject(e, keys, count, obj);
	if (rc == 0)
		e->je_depth--;
	return rc;
}

/* Encode the value at idx and hang it under parent. */
static int
json_enc(struct json_enc *e, int idx, struct json_object *parent,
    const char *key)
{
	lua_State		*L = e->je_L;
	struct json_object	*obj = NULL;
	const char		*s;
	lua_Number		 n;
	size_t			 len;

	switch (lua_type(L, idx)) {
	case LUA_TTABLE:
		return json_enctable(e, idx, parent, key);
	case LUA_TNIL:
		break;
	case LUA_TBOOLEAN:
		obj = json_new(e, json_object_new_boolean(lua_toboolean(L,
		    idx)));
		break;
	case LUA_TNUMBER:
		n = lua_tonumber(L, idx);
		if (isnan(n))
			return json_encfail(e, "cannot encode NaN");
		if (isinf(n))
			return json_encfail(e, "cannot encode %s",
			    n > 0 ? "infinity" : "-infinity");
		obj = json_number(e, n);
		break;
	case LUA_TSTRING:
		s = lua_tolstring(L, idx, &len);
		if (len > INT_MAX)
			return json_encfail(e, "string too long");
		if (!json_isutf8(s, len))
			return json_encfail(e, "invalid UTF-8 in string");
		obj = json_new(e, json_object_new_string_len(s, len));
		break;
	case LUA_TLIGHTUSERDATA:
		if (lua_touserdata(L, idx) == NULL)
			break;		/* json.null */
		/* FALLTHROUGH */
	default:
		return json_encfail(e, "cannot encode %s",
		    luaL_typename(L, idx));
	}
	json_attach(e, parent, key, obj);
	return 0;
}

int
json_encode(lua_State *L)
{
	struct json_enc	 e;
	const char	*out;
	size_t		 len;

	luaL_checkany(L, 1);
	lua_settop(L, 1);
	e.je_L = L;
	e.je_depth = 0;
	e.je_box = json_newbox(L);
	if (json_enc(&e, 1, NULL, NULL) == -1) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	out = json_object_to_json_string_length(e.je_box->jb_obj,
	    JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &len);
	if (out == NULL)
		return luaL_error(L, "json.encode: not enough memory");
	lua_pushlstring(L, out, len);
	json_freebox(e.je_box);
	return 1;
}
