/* Loading OpenSSL on first use; see openssl.h for why. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#define OSSL_LOADER		/* the real names, not the macros */
#include "openssl.h"

/* The library names Debian's libssl3 ships: the major version's. */
#define OSSL_STR(x)	#x
#define OSSL_SONAME(lib, v)	lib ".so." OSSL_STR(v)

struct ossl_funcs	 ossl_fn;
static int		 ossl_state;	/* 0 not tried, 1 loaded, -1 failed */
static char		 ossl_why[256];

/*
 * Load libssl (which brings libcrypto) and every function slua calls.
 * Returns 0, or -1 with the reason in err.
 */
int
ossl_load(char *err, size_t errlen)
{
	void		*lib;
	const char	*name = OSSL_SONAME("libssl", OPENSSL_VERSION_MAJOR);

	if (ossl_state == 0) {
		ossl_state = -1;
		if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL)) == NULL) {
			(void)snprintf(ossl_why, sizeof(ossl_why), "%s",
			    dlerror());
			goto done;
		}
#define OSSL_SYM(f)							\
		if ((*(void **)&ossl_fn.f = dlsym(lib, #f)) == NULL) {	\
			(void)snprintf(ossl_why, sizeof(ossl_why),	\
			    "%s: no %s", name, #f);			\
			goto done;					\
		}
		OSSL_FUNCS(OSSL_SYM)
#undef OSSL_SYM
		ossl_state = 1;
	}
 done:
	if (ossl_state == 1)
		return 0;
	if (err != NULL)
		(void)snprintf(err, errlen, "%s", ossl_why);
	return -1;
}
