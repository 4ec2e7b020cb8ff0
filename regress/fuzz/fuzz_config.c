/*
 * libFuzzer target: the config file loader, config_file(), on the input
 * written to a file.
 *
 * A config file is a Lua chunk, and a chunk may loop for ever or double
 * a string until memory runs out: that is the file's own doing, not a
 * loader bug.  So the state config_file() makes is given a budget: this
 * file is linked with --wrap=luaL_newstate, and the state it returns
 * fails an allocation past FUZZ_MEMORY bytes and raises an error after
 * FUZZ_STEPS instructions, both of which the loader reports like any
 * other error in the file.  Whatever the loader accepts must be within
 * the limits it documents.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "config.h"

#define FUZZ_MEMORY	(64 << 20)
#define FUZZ_STEPS	100000
#define FUZZ_HOOKEVERY	1000

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
lua_State	*__real_luaL_newstate(void);
lua_State	*__wrap_luaL_newstate(void);

static char	 path[] = "/tmp/slua-fuzz-config.XXXXXX";
static int	 fd = -1;
static int	 steps;

static void
fail(const char *what)
{
	(void)fprintf(stderr, "fuzz_config: %s\n", what);
	abort();
}

static void
cleanup(void)
{
	(void)unlink(path);
}

#ifndef SLUA_LUAJIT
/* LuaJIT on 64-bit hosts takes no allocator: there, time is the budget. */
static size_t	 mem_used;

static void *
budget_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	void	*p;

	(void)ud;
	if (nsize == 0) {
		free(ptr);
		mem_used -= osize;
		return NULL;
	}
	if (nsize > osize && mem_used - osize + nsize > FUZZ_MEMORY)
		return NULL;
	if ((p = realloc(ptr, nsize)) == NULL)
		return NULL;
	mem_used = mem_used - osize + nsize;
	return p;
}
#endif

static void
budget_hook(lua_State *L, lua_Debug *ar)
{
	(void)ar;
	if ((steps += FUZZ_HOOKEVERY) > FUZZ_STEPS)
		luaL_error(L, "fuzz_config: instruction budget spent");
}

static int
budget_panic(lua_State *L)
{
	(void)L;
	fail("a Lua error outside any pcall");
	return 0;
}

lua_State *
__wrap_luaL_newstate(void)
{
	lua_State	*L;

#ifdef SLUA_LUAJIT
	L = __real_luaL_newstate();
#else
	mem_used = 0;
	L = lua_newstate(budget_alloc, NULL);
#endif
	if (L == NULL)
		fail("cannot create a Lua state");
	steps = 0;
	lua_sethook(L, budget_hook, LUA_MASKCOUNT, FUZZ_HOOKEVERY);
	lua_atpanic(L, budget_panic);
	return L;
}

static void
check(const struct config *cf)
{
	if (cf->cf_port != -1 && (cf->cf_port < 1 || cf->cf_port > 65535))
		fail("a port out of range");
	if (cf->cf_nlisten < 0 || cf->cf_nlisten > CONFIG_MAXLISTEN)
		fail("too many listen addresses");
	if (cf->cf_handlers != -1 && (cf->cf_handlers < 1 ||
	    cf->cf_handlers > 1024))
		fail("a handler count out of range");
	if (cf->cf_workers != -1 && (cf->cf_workers < 1 ||
	    cf->cf_workers > 1024))
		fail("a worker count out of range");
	if (cf->cf_max_job_size != -1 && (cf->cf_max_job_size < 1 ||
	    cf->cf_max_job_size > 1LL << 30))
		fail("a max-job-size out of range");
	if (cf->cf_max_line != -1 && (cf->cf_max_line < 1 ||
	    cf->cf_max_line > 1LL << 30))
		fail("a max-line out of range");
	if (cf->cf_max_memory != -1 && (cf->cf_max_memory < 0 ||
	    cf->cf_max_memory > 1LL << 40))
		fail("a max-memory out of range");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	 cf;

	if (fd == -1) {
		if ((fd = mkstemp(path)) == -1)
			fail("mkstemp failed");
		(void)atexit(cleanup);
	}
	if (ftruncate(fd, 0) == -1 ||
	    pwrite(fd, data, size, 0) != (ssize_t)size)
		fail("cannot write the config file");
	config_init(&cf);
	if (config_file(&cf, path, 1) == 0)
		check(&cf);
	config_file_free();
	return 0;
}
