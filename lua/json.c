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
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "slualib.h"

#define JSON_MAXDEPTH	512
#define JSON_LONGINT	18	/* more digits may not fit in 64 bits */
#define JSON_BOXMT	"slua.json"

/*
 * json-c allocates with malloc: a box on the Lua stack owns the tree (or
 * the tokener) so that a Lua error on the way cannot leak it.
 */
struct json_box {
	struct json_object	*jb_obj;
	struct json_tokener	*jb_tok;
};

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

struct json_scan {
	const char	*js_s;
	size_t		 js_len;
	size_t		 js_pos;	/* of the first error */
	const char	*js_err;
	int		 js_long;	/* an integer json-c would clamp */
};

static int	json_enc(struct json_enc *, int, struct json_object *,
		    const char *);

static void	json_freebox(struct json_box *);

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
static void
json_freebox(struct json_box *box)
{
	json_object_put(box->jb_obj);
	box->jb_obj = NULL;
}

static struct json_box *
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
static size_t
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

static int
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

static int
json_isdigit(int c)
{
	return c >= '0' && c <= '9';
}

static int
json_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Decoding. */

static int
json_scanerr(struct json_scan *sc, size_t pos, const char *err)
{
	sc->js_pos = pos;
	sc->js_err = err;
	return -1;
}

/* The string at *ip; json-c checks the escapes and the end. */
static int
json_scanstring(struct json_scan *sc, size_t *ip)
{
	const unsigned char	*s = (const unsigned char *)sc->js_s;
	size_t			 start = *ip, i = *ip + 1, n;
	int			 nul = 0;

	while (i < sc->js_len && s[i] != '"') {
		if (s[i] == '\\') {
			if (i + 5 < sc->js_len &&
			    memcmp(s + i + 1, "u0000", 5) == 0)
				nul = 1;
			i += 2;
		} else if (s[i] < 0x20)
			return json_scanerr(sc, i,
			    "control character in string");
		else if ((n = json_utf8(s + i, sc->js_len - i)) == 0)
			return json_scanerr(sc, i, "invalid UTF-8");
		else
			i += n;
	}
	*ip = ++i;
	/* json-c keys are C strings: one with a NUL would be cut short. */
	while (nul && i < sc->js_len && json_isspace(s[i]))
		i++;
	if (nul && i < sc->js_len && s[i] == ':')
		return json_scanerr(sc, start, "object key contains \\u0000");
	return 0;
}

static size_t
json_digits(const char *s, size_t i, size_t len)
{
	while (i < len && json_isdigit(s[i]))
		i++;
	return i;
}

/* The number at *ip, by RFC 8259's grammar. */
static int
json_scannumber(struct json_scan *sc, size_t *ip)
{
	const char	*s = sc->js_s;
	size_t		 len = sc->js_len, start = *ip, i = *ip, intpart;
	int		 exp = 0, frac = 0;

	if (s[i] == '-')
		i++;
	if (i < len && s[i] == '0')
		i++;
	else if (i < len && json_isdigit(s[i]))
		i = json_digits(s, i, len);
	else
		return json_scanerr(sc, start, "invalid number");
	intpart = i - start - (s[start] == '-');
	if (i < len && s[i] == '.') {
		frac = 1;
		if (++i == len || !json_isdigit(s[i]))
			return json_scanerr(sc, start, "invalid number");
		i = json_digits(s, i, len);
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		exp = 1;
		if (++i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i == len || !json_isdigit(s[i]))
			return json_scanerr(sc, start, "invalid number");
		i = json_digits(s, i, len);
	}
	if (i < len && (json_isdigit(s[i]) || s[i] == '.' || s[i] == 'e' ||
	    s[i] == 'E' || s[i] == '+' || s[i] == '-'))
		return json_scanerr(sc, start, "invalid number");
	/* strtod stops where the token does: what follows is not numeric. */
	if ((exp || intpart > 300) && isinf(strtod(s + start, NULL)))
		return json_scanerr(sc, start, "number out of range");
	if (!exp && !frac && intpart > JSON_LONGINT)
		sc->js_long = 1;
	*ip = i;
	return 0;
}

/* Find the first token json-c would wrongly accept. */
static int
json_scan(struct json_scan *sc, const char *s, size_t len)
{
	size_t	 i = 0;

	memset(sc, 0, sizeof(*sc));
	sc->js_s = s;
	sc->js_len = len;
	while (i < len) {
		switch (s[i]) {
		case ' ': case '\t': case '\n': case '\r':
		case '[': case ']': case '{': case '}': case ',': case ':':
			i++;
			break;
		case '"':
			if (json_scanstring(sc, &i) == -1)
				return -1;
			break;
		case 't': case 'f': case 'n':
			/* json-c checks true, false and null strictly. */
			while (i < len && s[i] >= 'a' && s[i] <= 'z')
				i++;
			break;
		default:
			if (s[i] != '-' && !json_isdigit(s[i]))
				return json_scanerr(sc, i,
				    "unexpected character");
			if (json_scannumber(sc, &i) == -1)
				return -1;
			break;
		}
	}
	return 0;
}

/*
 * json-c clamps integers that do not fit in 64 bits; make each long one a
 * decimal so that it parses as the nearest double instead.  s is valid.
 */
static const char *
json_widen(lua_State *L, const char *s, size_t *lenp)
{
	luaL_Buffer	 b;
	size_t		 len = *lenp, i = 0, from = 0, d;

	luaL_buffinit(L, &b);
	while (i < len) {
		if (s[i] == '"') {
			for (i++; s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
		} else if (s[i] == '-' || json_isdigit(s[i])) {
			d = i + (s[i] == '-');
			i = json_digits(s, d, len);
			if (i - d > JSON_LONGINT && (i == len ||
			    (s[i] != '.' && s[i] != 'e' && s[i] != 'E'))) {
				luaL_addlstring(&b, s + from, i - from);
				luaL_addstring(&b, ".0");
				from = i;
			}
			while (i < len && (json_isdigit(s[i]) || s[i] == '.' ||
			    s[i] == 'e' || s[i] == 'E' || s[i] == '+' ||
			    s[i] == '-'))
				i++;
		} else
			i++;
	}
	luaL_addlstring(&b, s + from, len - from);
	luaL_pushresult(&b);
	return lua_tolstring(L, -1, lenp);
}

/* Parse s (with its terminating NUL, which ends a bare number). */
static struct json_object *
json_parse(struct json_tokener *tok, const char *s, size_t len,
    enum json_tokener_error *err, size_t *end)
{
	struct json_object	*obj;

	json_tokener_reset(tok);
	obj = json_tokener_parse_ex(tok, s, len + 1);
	*err = json_tokener_get_error(tok);
	/* An unterminated string takes in the NUL; the input ends before. */
	if ((*end = json_tokener_get_parse_end(tok)) > len)
		*end = len;
	if (*err == json_tokener_continue)
		*err = json_tokener_error_parse_eof;
	if (*err == json_tokener_success && *end < len)
		*err = json_tokener_error_parse_unexpected;	/* a NUL */
	return obj;
}

static int
json_decodefail(lua_State *L, const char *what, size_t pos)
{
	lua_pushnil(L);
	lua_pushfstring(L, "json.decode: %s at position %f", what,
	    (lua_Number)pos + 1);
	return 2;
}

static void
json_push(lua_State *L, struct json_object *obj)
{
	size_t	 i, n;

	switch (json_object_get_type(obj)) {
	case json_type_null:
		lua_pushlightuserdata(L, NULL);
		break;
	case json_type_boolean:
		lua_pushboolean(L, json_object_get_boolean(obj));
		break;
	case json_type_int:
		lua_pushnumber(L, (lua_Number)json_object_get_int64(obj));
		break;
	case json_type_double:
		lua_pushnumber(L, json_object_get_double(obj));
		break;
	case json_type_string:
		lua_pushlstring(L, json_object_get_string(obj),
		    json_object_get_string_len(obj));
		break;
	case json_type_array:
		n = json_object_array_length(obj);
		luaL_checkstack(L, 2, "json.decode: nesting too deep");
		lua_createtable(L, n < INT_MAX ? n : 0, 0);
		for (i = 0; i < n; i++) {
			json_push(L, json_object_array_get_idx(obj, i));
			lua_rawseti(L, -2, i + 1);
		}
		break;
	case json_type_object:
		luaL_checkstack(L, 3, "json.decode: nesting too deep");
		lua_createtable(L, 0, json_object_object_length(obj));
		json_object_object_foreach(obj, key, val) {
			lua_pushstring(L, key);
			json_push(L, val);
			lua_rawset(L, -3);
		}
		break;
	}
}

static int
json_decode(lua_State *L)
{
	struct json_box		*tokbox, *box;
	struct json_scan	 sc;
	enum json_tokener_error	 err;
	const char		*s;
	size_t			 len, end;

	s = luaL_checklstring(L, 1, &len);
	lua_settop(L, 1);
	if (len >= INT_MAX) {
		lua_pushnil(L);
		lua_pushliteral(L, "json.decode: input too large");
		return 2;
	}
	tokbox = lua_touserdata(L, lua_upvalueindex(1));
	if (tokbox->jb_tok == NULL) {
		tokbox->jb_tok = json_tokener_new_ex(JSON_MAXDEPTH);
		if (tokbox->jb_tok == NULL)
			return luaL_error(L, "json.decode: not enough memory");
		json_tokener_set_flags(tokbox->jb_tok, JSON_TOKENER_STRICT);
	}
	box = json_newbox(L);
	(void)json_scan(&sc, s, len);
	box->jb_obj = json_parse(tokbox->jb_tok, s, len, &err, &end);
	if (sc.js_err != NULL && (err == json_tokener_success ||
	    sc.js_pos <= end))
		return json_decodefail(L, sc.js_err, sc.js_pos);
	if (err == json_tokener_error_depth)
		return json_decodefail(L, "nesting deeper than 512", end);
	if (err != json_tokener_success)
		return json_decodefail(L, json_tokener_error_desc(err), end);
	if (sc.js_long) {
		json_object_put(box->jb_obj);
		box->jb_obj = NULL;
		s = json_widen(L, s, &len);
		box->jb_obj = json_parse(tokbox->jb_tok, s, len, &err, &end);
		if (err != json_tokener_success)
			return json_decodefail(L, json_tokener_error_desc(err),
			    end);
	}
	json_push(L, box->jb_obj);
	json_freebox(box);
	return 1;
}

/* Encoding. */

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

static int
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
