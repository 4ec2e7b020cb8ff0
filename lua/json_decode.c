/*
 * json.decode(s): json-c parses; json_scan() first finds the first token
 * json-c would wrongly accept (see json.c), and whichever error comes
 * first is reported, with its byte offset.
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "jsonint.h"

#define JSON_LONGINT	18	/* more digits may not fit in 64 bits */

struct json_scan {
	const char	*js_s;
	size_t		 js_len;
	size_t		 js_pos;	/* of the first error */
	const char	*js_err;
	int		 js_long;	/* an integer json-c would clamp */
};

static int
json_isspace(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

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

int
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
