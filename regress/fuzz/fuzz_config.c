/*
 * libFuzzer target: the config file loader, config_file(), on the input
 * written to a file.
 *
 * A config file is a Lua chunk, and a chunk may loop for ever or double
 * a string until memory runs out: the loader bounds both itself
 * (config.h, CONFIG_MAX*), and this target checks that it does.  It is
 * linked with --wrap=luaL_newstate: the state the loader gets counts
 * every byte it holds beneath the loader's own allocator, and a peak
 * over CONFIG_MAXMEMORY is a failure; a loop the loader did not stop is
 * a hang libFuzzer reports (-timeout).  Whatever the loader accepts must
 * be within the limits it documents.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lua.h>
#include <lauxlib.h>

#include "config.h"

int		 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
lua_State	*__real_luaL_newstate(void);
lua_State	*__wrap_luaL_newstate(void);

static char	 path[] = "/tmp/slua-fuzz-config.XXXXXX";
static int	 fd = -1;
static lua_Alloc real_alloc;
static void	*real_ud;
static long long mem_used, mem_peak;

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

static void *
peak_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	void	*p;

	(void)ud;
	if (ptr == NULL)
		osize = 0;
	p = real_alloc(real_ud, ptr, osize, nsize);
	if (p != NULL || nsize == 0)
		mem_used += (long long)nsize - (long long)osize;
	if (mem_used > mem_peak)
		mem_peak = mem_used;
	return p;
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

	if ((L = __real_luaL_newstate()) == NULL)
		fail("cannot create a Lua state");
	mem_used = mem_peak = 0;
	real_alloc = lua_getallocf(L, &real_ud);
	lua_setallocf(L, peak_alloc, NULL);
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
	    (cf->cf_max_memory > 0 && cf->cf_max_memory < 1 << 20) ||
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
	if (mem_peak > CONFIG_MAXMEMORY)
		fail("the config's Lua state held more than CONFIG_MAXMEMORY");
	config_file_free();
	return 0;
}
