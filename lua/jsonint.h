/*
 * What json.c, json_decode.c and json_encode.c share: the box that owns
 * json-c's allocations while Lua may raise an error, and the checks both
 * directions make.
 */
#ifndef SLUA_JSONINT_H
#define SLUA_JSONINT_H

#include <stddef.h>

#include "slualib.h"

#define JSON_MAXDEPTH	512
#define JSON_BOXMT	"slua.json"

struct json_object;
struct json_tokener;

/*
 * json-c allocates with malloc: a box on the Lua stack owns the tree (or
 * the tokener) so that a Lua error on the way cannot leak it.
 */
struct json_box {
	struct json_object	*jb_obj;
	struct json_tokener	*jb_tok;
};

struct json_box	*json_newbox(lua_State *);
void		 json_freebox(struct json_box *);
size_t		 json_utf8(const unsigned char *, size_t);
int		 json_isutf8(const char *, size_t);
int		 json_isdigit(int);
int		 json_decode(lua_State *);
int		 json_encode(lua_State *);

#endif
