/*
 * libFuzzer target: client.line() and client.read(n), the handler's
 * reader of what a client sends, over a client_io that serves the input
 * in pieces of random size, with EINTR and EAGAIN now and then, as a slow
 * or odd client would.
 *
 * The input: a byte for --max-line (1 to 64), one for the largest
 * client.read() (16 to 4096), one that seeds the piece sizes, one for the
 * number of operations, the operations, and then what the client sends.
 * An operation below 128 is client.line(), 128 to 191 is client.read(n)
 * with n the operation less 128, above that client.read().
 *
 * Besides the sanitizers' crashes: no line is longer than --max-line or
 * holds a newline, no read is longer than asked, and when all operations
 * are lines, what they return does not depend on the piece sizes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct source {
	const uint8_t	*s_data;
	size_t		 s_len;
	size_t		 s_off;
	uint32_t	 s_rand;	/* 0: whole reads, no interruptions */
};

/*
 * The operations, until end of input or a bound (client.read(0) never
 * ends); returns a transcript of what they gave.
 */
static const char driver[] =
    "local ops, maxline = ...\n"
    "local out = {}\n"
    "for i = 1, 1000 do\n"
    "  local op = ops:byte((i - 1) % #ops + 1)\n"
    "  local v, err\n"
    "  if op < 128 then\n"
    "    v, err = client.line()\n"
    "    assert(v == nil or #v <= maxline, 'a line over max-line')\n"
    "    assert(v == nil or not v:find('\\n', 1, true),\n"
    "        'a line with a newline')\n"
    "  elseif op < 192 then\n"
    "    v, err = client.read(op - 128)\n"
    "    assert(v == nil or #v <= op - 128, 'a read over its count')\n"
    "  else\n"
    "    v, err = client.read()\n"
    "  end\n"
    "  out[#out + 1] = string.format('%q %q', tostring(v), tostring(err))\n"
    "  if v == nil and err == nil then break end\n"
    "end\n"
    "return table.concat(out, '\\n')\n";

static lua_State	*L;
static int		 devnull = -1;

static uint32_t
source_rand(struct source *s)
{
	/* xorshift32: cheap, and the same input gives the same pieces. */
	s->s_rand ^= s->s_rand << 13;
	s->s_rand ^= s->s_rand >> 17;
	s->s_rand ^= s->s_rand << 5;
	return s->s_rand;
}

static long
source_read(void *ctx, char *buf, size_t len)
{
	struct source	*s = ctx;
	size_t		 n = s->s_len - s->s_off;
	uint32_t	 r;

	if (s->s_rand != 0) {
		r = source_rand(s);
		if (r % 16 == 0) {
			errno = EINTR;
			return -1;
		}
		if (r % 16 == 1) {
			/* The client polls io_rfd: /dev/null is ready. */
			errno = EAGAIN;
			return -1;
		}
		if (n > 1 + (r >> 8) % 97)
			n = 1 + (r >> 8) % 97;
	}
	if (n > len)
		n = len;
	memcpy(buf, s->s_data + s->s_off, n);
	s->s_off += n;
	return n;
}

static long
source_write(void *ctx, const char *buf, size_t len)
{
	(void)ctx;
	(void)buf;
	return len;
}

static void
fuzz_init(void)
{
	if ((devnull = open("/dev/null", O_RDONLY)) == -1)
		abort();
	if ((L = luaL_newstate()) == NULL)
		abort();
	luaL_openlibs(L);
	lua_pushcfunction(L, luaopen_slua_client);
	lua_call(L, 0, 0);
	if (luaL_loadbuffer(L, driver, sizeof(driver) - 1, "=driver") != 0)
		abort();
	lua_setfield(L, LUA_REGISTRYINDEX, "fuzz_line");
}

/* Run the operations on the client's input; the transcript is pushed. */
static void
run(struct source *src, const uint8_t *ops, size_t nops, size_t maxline,
    size_t maxread)
{
	struct client_io io = {
		.io_read = source_read, .io_write = source_write,
		.io_ctx = src, .io_rfd = devnull, .io_wfd = devnull,
	};

	client_open(&io, 5, maxline, maxread);
	lua_getfield(L, LUA_REGISTRYINDEX, "fuzz_line");
	lua_pushlstring(L, (const char *)ops, nops);
	lua_pushnumber(L, maxline);
	if (lua_pcall(L, 2, 1, 0) != 0) {
		(void)fprintf(stderr, "fuzz_line: %s\n", lua_tostring(L, -1));
		abort();
	}
	client_close();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct source	 src;
	const uint8_t	*ops;
	size_t		 maxline, maxread, nops, i;
	int		 lines = 1;

	if (size < 4)
		return 0;
	if (L == NULL)
		fuzz_init();
	maxline = 1 + data[0] % 64;
	maxread = 16 * (1 + data[1]);
	nops = 1 + data[3] % 16;
	if (size - 4 < nops)
		return 0;
	ops = data + 4;
	for (i = 0; i < nops; i++)
		if (ops[i] >= 128)
			lines = 0;
	memset(&src, 0, sizeof(src));
	src.s_data = ops + nops;
	src.s_len = size - 4 - nops;
	/* xorshift32 is stuck at 0: seed it with anything else. */
	src.s_rand = 0x9e3779b9u ^ data[2];
	run(&src, ops, nops, maxline, maxread);
	if (lines) {
		/* The same input in one piece must give the same lines. */
		memset(&src, 0, sizeof(src));
		src.s_data = ops + nops;
		src.s_len = size - 4 - nops;
		run(&src, ops, nops, maxline, maxread);
		if (!lua_equal(L, -1, -2)) {
			(void)fprintf(stderr, "fuzz_line: pieces:\n%s\n"
			    "whole:\n%s\n", lua_tostring(L, -2),
			    lua_tostring(L, -1));
			abort();
		}
	}
	lua_settop(L, 0);
	return 0;
}
