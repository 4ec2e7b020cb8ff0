/*
 * string.md5, string.sha1, string.sha256, string.sha512: the digest of a
 * string as lowercase hex, through OpenSSL's EVP interface.
 */
#include <stdio.h>

#include "openssl.h"
#include "slualib.h"

struct digest {
	const char	*dg_name;	/* the Lua name */
	const char	*dg_algo;	/* the OpenSSL name */
	EVP_MD		*dg_md;		/* fetched on first use */
};

/*
 * Fetching an algorithm is a lookup in OpenSSL's provider tables: do it
 * once per process, not once per call.  The fetched objects live as long
 * as the process.
 */
static struct digest	 digests[] = {
	{ "md5",	"MD5",		NULL },
	{ "sha1",	"SHA1",		NULL },
	{ "sha256",	"SHA256",	NULL },
	{ "sha512",	"SHA512",	NULL },
};

static int
digest_fail(lua_State *L, const struct digest *dg)
{
	unsigned long	 e;
	char		 buf[256];

	e = ERR_get_error();
	ERR_clear_error();
	if (e == 0)
		(void)snprintf(buf, sizeof(buf), "failed");
	else
		ERR_error_string_n(e, buf, sizeof(buf));
	lua_pushnil(L);
	lua_pushfstring(L, "%s: %s", dg->dg_name, buf);
	return 2;
}

static int
digest_hex(lua_State *L)
{
	static const char	 hex[] = "0123456789abcdef";
	struct digest		*dg;
	unsigned char		 md[EVP_MAX_MD_SIZE];
	char			 out[2 * EVP_MAX_MD_SIZE];
	unsigned int		 mdlen, i;
	const char		*s;
	size_t			 len;

	s = luaL_checklstring(L, 1, &len);
	dg = &digests[lua_tointeger(L, lua_upvalueindex(1))];
	if (dg->dg_md == NULL && ossl_load(out, sizeof(out)) == -1) {
		lua_pushnil(L);
		lua_pushfstring(L, "%s: %s", dg->dg_name, out);
		return 2;
	}
	if (dg->dg_md == NULL &&
	    (dg->dg_md = EVP_MD_fetch(NULL, dg->dg_algo, NULL)) == NULL)
		return digest_fail(L, dg);
	if (!EVP_Digest(s, len, md, &mdlen, dg->dg_md, NULL))
		return digest_fail(L, dg);
	for (i = 0; i < mdlen; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	lua_pushlstring(L, out, 2 * mdlen);
	return 1;
}

int
luaopen_slua_digest(lua_State *L)
{
	size_t	 i;

	lua_getglobal(L, LUA_STRLIBNAME);
	for (i = 0; i < sizeof(digests) / sizeof(digests[0]); i++) {
		lua_pushinteger(L, i);
		lua_pushcclosure(L, digest_hex, 1);
		lua_setfield(L, -2, digests[i].dg_name);
	}
	lua_pop(L, 1);
	return 0;
}
