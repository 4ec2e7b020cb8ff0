/*
 * libFuzzer target: json.decode(input), and json.encode of whatever it
 * accepted.  Besides the sanitizers' crashes, it checks what the two must
 * agree on: a decoded value always encodes, its text decodes again, and
 * the second encoding is the first (decoding [] gives {} and so on, so
 * the first round trip may change the text; the second must not).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "slualib.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static const char roundtrip[] =
    "local s = ...\n"
    "local v, err = json.decode(s)\n"
    "if v == nil then\n"
    "  assert(type(err) == 'string' and err:find('^json%.decode: '),\n"
    "      'decode failed without its message')\n"
    "  return\n"
    "end\n"
    "local t1, eerr = json.encode(v)\n"
    "assert(t1, 'decoded, but does not encode: ' .. tostring(eerr))\n"
    "local v2, derr = json.decode(t1)\n"
    "assert(v2 ~= nil, 'encoded, but does not decode: ' .. tostring(derr))\n"
    "local t2 = assert(json.encode(v2))\n"
    "assert(t1 == t2, 'round trips differ: ' .. t1 .. ' and ' .. t2)\n";

static lua_State	*L;

/*
 * One state for the whole run: a fresh one per input would cost more than
 * the decoding.
 */
static void
fuzz_init(void)
{
	if ((L = luaL_newstate()) == NULL)
		abort();
	luaL_openlibs(L);
	lua_pushcfunction(L, luaopen_slua_json);
	lua_pushliteral(L, "json");
	lua_call(L, 1, 0);
	if (luaL_loadbuffer(L, roundtrip, sizeof(roundtrip) - 1,
	    "=roundtrip") != 0)
		abort();
	lua_setfield(L, LUA_REGISTRYINDEX, "fuzz_json");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (L == NULL)
		fuzz_init();
	lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_json");
	lua_pushlstring(L, (const char *)data, size);
	if (lua_pcall(L, 1, 0, 0) != 0) {
		(void)fprintf(stderr, "fuzz_json: %s\n", lua_tostring(L, -1));
		abort();
	}
	return 0;
}
