/*
 * OpenSSL, loaded on first use.  Linking libssl and libcrypto makes every
 * slua start pay for their relocation, about half a millisecond, though
 * only TLS and the string digests need them.  So slua dlopen()s them when
 * one of those is first used; Debian's security updates still apply.
 *
 * The OpenSSL functions slua calls are pointers in ossl_fn, and a macro
 * gives each its usual name, so callers read as plain OpenSSL.  Call
 * ossl_load() before the first of them.
 */
#ifndef SLUA_OPENSSL_H
#define SLUA_OPENSSL_H

#include <stddef.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#define OSSL_FUNCS(X)						\
	X(ERR_get_error)	X(ERR_clear_error)		\
	X(ERR_error_string_n)	X(EVP_MD_fetch)			\
	X(EVP_Digest)		X(TLS_server_method)		\
	X(SSL_CTX_new)		X(SSL_CTX_free)			\
	X(SSL_CTX_ctrl)		X(SSL_CTX_set_options)		\
	X(SSL_CTX_use_certificate_chain_file)			\
	X(SSL_CTX_use_PrivateKey_file)				\
	X(SSL_CTX_check_private_key)				\
	X(SSL_CTX_set_cipher_list) X(SSL_CTX_set_ciphersuites)	\
	X(SSL_CTX_get0_certificate) X(RAND_priv_bytes)		\
	X(SSL_new)		X(SSL_free)			\
	X(SSL_set_fd)		X(SSL_accept)			\
	X(SSL_get_error)	X(SSL_read)			\
	X(SSL_write)		X(SSL_shutdown)

#define OSSL_MEMBER(f)	__typeof__(f) *f;
struct ossl_funcs {
	OSSL_FUNCS(OSSL_MEMBER)
};
extern struct ossl_funcs ossl_fn;

int	ossl_load(char *, size_t);

#ifndef OSSL_LOADER
#define ERR_get_error		(ossl_fn.ERR_get_error)
#define ERR_clear_error		(ossl_fn.ERR_clear_error)
#define ERR_error_string_n	(ossl_fn.ERR_error_string_n)
#define EVP_MD_fetch		(ossl_fn.EVP_MD_fetch)
#define EVP_Digest		(ossl_fn.EVP_Digest)
#define TLS_server_method	(ossl_fn.TLS_server_method)
#define SSL_CTX_new		(ossl_fn.SSL_CTX_new)
#define SSL_CTX_free		(ossl_fn.SSL_CTX_free)
#define SSL_CTX_ctrl		(ossl_fn.SSL_CTX_ctrl)
#define SSL_CTX_set_options	(ossl_fn.SSL_CTX_set_options)
#define SSL_CTX_use_certificate_chain_file \
	(ossl_fn.SSL_CTX_use_certificate_chain_file)
#define SSL_CTX_use_PrivateKey_file (ossl_fn.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_check_private_key (ossl_fn.SSL_CTX_check_private_key)
#define SSL_CTX_set_cipher_list	(ossl_fn.SSL_CTX_set_cipher_list)
#define SSL_CTX_set_ciphersuites (ossl_fn.SSL_CTX_set_ciphersuites)
#define SSL_CTX_get0_certificate (ossl_fn.SSL_CTX_get0_certificate)
#define RAND_priv_bytes		(ossl_fn.RAND_priv_bytes)
#define SSL_new			(ossl_fn.SSL_new)
#define SSL_free		(ossl_fn.SSL_free)
#define SSL_set_fd		(ossl_fn.SSL_set_fd)
#define SSL_accept		(ossl_fn.SSL_accept)
#define SSL_get_error		(ossl_fn.SSL_get_error)
#define SSL_read		(ossl_fn.SSL_read)
#define SSL_write		(ossl_fn.SSL_write)
#define SSL_shutdown		(ossl_fn.SSL_shutdown)
#endif

#endif
