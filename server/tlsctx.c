/*
 * A generation's TLS context, made by the supervisor before it forks the
 * handlers (server/gen.c) and so shared by all of them; the handshake and
 * the connection's I/O are in server/tls.c.
 *
 * The policy: TLS 1.2 and 1.3 only; for TLS 1.2 the ECDHE suites with an
 * AEAD cipher (AES-GCM, ChaCha20-Poly1305), so every session has forward
 * secrecy and no CBC construction is offered; for TLS 1.3 OpenSSL's suites.
 * The server's order decides, not the client's.  tls-ciphers,
 * tls-ciphersuites and tls-protocols change it; they are checked here, at
 * the start, under -n and on a reload, one element at a time, because
 * OpenSSL skips a name it does not know as long as another one matches.
 *
 * Up to two certificate and key pairs, of different key types (RSA and
 * ECDSA, say): OpenSSL picks the one the client can check, the first in
 * the server's order of signature algorithms (ECDSA before RSA).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "config.h"
#include "log.h"
#include "openssl.h"
#include "server.h"

/* The ECDHE AEAD suites, ECDSA first, AES-128 before AES-256. */
#define TLS_CIPHERS							\
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"	\
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"	\
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

#define TLS_LISTMAX	2048	/* the longest list a setting may give */

static const struct {
	const char	*v_name;
	int		 v_version;
} tls_versions[] = {
	{ "TLSv1.2",	TLS1_2_VERSION },
	{ "TLSv1.3",	TLS1_3_VERSION },
};
#define TLS_NVERSIONS	(sizeof(tls_versions) / sizeof(tls_versions[0]))

/* One of tls-protocols' names: its version, 0 unknown, -1 too old. */
static int
tlsctx_version(const char *name)
{
	static const char	*old[] = { "SSLv2", "SSLv3", "TLSv1", "TLSv1.0",
	    "TLSv1.1", NULL };
	size_t			 i;

	for (i = 0; i < TLS_NVERSIONS; i++)
		if (strcasecmp(name, tls_versions[i].v_name) == 0)
			return tls_versions[i].v_version;
	for (i = 0; old[i] != NULL; i++)
		if (strcasecmp(name, old[i]) == 0)
			return -1;
	return 0;
}

/*
 * tls-protocols: versions separated by commas, colons or spaces; the
 * context speaks from the oldest named to the newest.
 */
static int
tlsctx_protocols(SSL_CTX *ctx, const char *list)
{
	char	 buf[TLS_LISTMAX], *p, *name;
	int	 v, min = 0, max = 0;

	if (strlcpy(buf, list, sizeof(buf)) >= sizeof(buf)) {
		log_warnx("tls-protocols: too long");
		return -1;
	}
	for (p = buf; (name = strsep(&p, ",: \t")) != NULL;) {
		if (*name == '\0')
			continue;
		if ((v = tlsctx_version(name)) == 0) {
			log_warnx("tls-protocols: %s: unknown (TLSv1.2, "
			    "TLSv1.3)", name);
			return -1;
		}
		if (v == -1) {
			log_warnx("tls-protocols: %s: too old (TLSv1.2 is the "
			    "oldest slua speaks)", name);
			return -1;
		}
		if (min == 0 || v < min)
			min = v;
		if (v > max)
			max = v;
	}
	if (min == 0) {
		log_warnx("tls-protocols: no protocol named");
		return -1;
	}
	if (!SSL_CTX_set_min_proto_version(ctx, min) ||
	    !SSL_CTX_set_max_proto_version(ctx, max)) {
		log_warnx("tls-protocols: %s", tls_error());
		return -1;
	}
	return 0;
}

/*
 * A cipher list of a setting (what), set with set().  Each name it adds
 * must match a cipher on its own; names it removes (!, -) or moves (+),
 * and @ commands, need not.  TLS 1.3's lists are plain names, separated by
 * colons only.
 */
static int
tlsctx_ciphers(SSL_CTX *ctx, const char *what, const char *list,
    int (*set)(SSL_CTX *, const char *), int tls13)
{
	char	 buf[TLS_LISTMAX], *p, *name;

	if (*list == '\0') {
		log_warnx("%s: empty%s", what, tls13 ? " (tls-protocols "
		    "TLSv1.2 turns TLS 1.3 off)" : "");
		return -1;
	}
	if (strlcpy(buf, list, sizeof(buf)) >= sizeof(buf)) {
		log_warnx("%s: too long", what);
		return -1;
	}
	for (p = buf; (name = strsep(&p, tls13 ? ":" : ":, ;")) != NULL;) {
		if (*name == '\0' || (!tls13 && strchr("!-+@", *name)))
			continue;
		if (set(ctx, name) == 1)
			continue;
		ERR_clear_error();
		if (!tls13 && strncmp(name, "TLS_", 4) == 0)
			log_warnx("%s: %s: a TLS 1.3 suite, for "
			    "tls-ciphersuites", what, name);
		else
			log_warnx("%s: %s: no such %s", what, name, tls13 ?
			    "TLS 1.3 cipher suite" : "cipher");
		return -1;
	}
	if (set(ctx, list) != 1) {
		log_warnx("%s: %s: %s", what, list, tls_error());
		return -1;
	}
	return 0;
}

/*
 * A pair.  OpenSSL files a key under the key's type, which need not be its
 * certificate's, and then checks the key against whatever certificate
 * that type has.  Selecting the certificate again finds it only if its own
 * type now has a key.
 */
static int
tlsctx_pair(SSL_CTX *ctx, const char *cert, const char *key)
{
	X509	*x;

	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    (x = SSL_CTX_get0_certificate(ctx)) == NULL) {
		log_warnx("tls-cert %s: %s", cert, tls_error());
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		log_warnx("tls-key %s: %s", key, tls_error());
		return -1;
	}
	if (!SSL_CTX_select_current_cert(ctx, x) ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ERR_clear_error();
		log_warnx("tls-key %s: not the key of %s", key, cert);
		return -1;
	}
	return 0;
}

/*
 * The pairs.  OpenSSL keeps one certificate per key type, so a second
 * pair of the first one's type would silently replace it: counted after.
 */
static int
tlsctx_certs(SSL_CTX *ctx, const struct config *cf)
{
	int	 n = 0;

	if (tlsctx_pair(ctx, cf->cf_tls_cert, cf->cf_tls_key) == -1)
		return -1;
	if (cf->cf_tls_cert2 == NULL)
		return 0;
	if (tlsctx_pair(ctx, cf->cf_tls_cert2, cf->cf_tls_key2) == -1)
		return -1;
	if (SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_FIRST))
		for (n = 1; SSL_CTX_set_current_cert(ctx, SSL_CERT_SET_NEXT);)
			n++;
	if (n < 2) {
		log_warnx("tls-cert %s: its key is of the type of %s's: give "
		    "two of different types (RSA and ECDSA)", cf->cf_tls_cert2,
		    cf->cf_tls_cert);
		return -1;
	}
	return 0;
}

/*
 * Session tickets carry resumption from one handler process to another:
 * the keys that seal them are made here, once per generation, before the
 * handlers are forked, so each handler opens what the others sealed.  A
 * reload makes a new generation, so new keys: tickets from before it are
 * refused, and those clients make a full handshake.  OpenSSL's session
 * cache is off: a session ID would resume only in the process that made
 * it.
 */
static int
tlsctx_tickets(SSL_CTX *ctx)
{
	unsigned char	 keys[80];	/* name, HMAC and AES keys */
	int		 r;

	if (RAND_priv_bytes(keys, sizeof(keys)) != 1) {
		log_warnx("tls: ticket keys: %s", tls_error());
		return -1;
	}
	r = SSL_CTX_set_tlsext_ticket_keys(ctx, keys, sizeof(keys));
	explicit_bzero(keys, sizeof(keys));
	if (r != 1) {
		log_warnx("tls: ticket keys: %s", tls_error());
		return -1;
	}
	(void)SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	return 0;
}

/* The settings make sense together; TLS needs a certificate. */
static int
tlsctx_check(const struct config *cf)
{
	static const char	*bare = "%s needs --tls-cert";

	if (cf->cf_tls_cert == NULL && cf->cf_tls_key == NULL) {
		if (cf->cf_tls_ciphers != NULL)
			log_warnx(bare, "--tls-ciphers");
		else if (cf->cf_tls_ciphersuites != NULL)
			log_warnx(bare, "--tls-ciphersuites");
		else if (cf->cf_tls_protocols != NULL)
			log_warnx(bare, "--tls-protocols");
		else
			return 0;
		return -1;
	}
	if ((cf->cf_tls_cert == NULL) != (cf->cf_tls_key == NULL)) {
		log_warnx("%s needs %s too", cf->cf_tls_cert ? "--tls-cert" :
		    "--tls-key", cf->cf_tls_cert ? "--tls-key" : "--tls-cert");
		return -1;
	}
	if ((cf->cf_tls_cert2 == NULL) != (cf->cf_tls_key2 == NULL)) {
		log_warnx("%s: give a key for each certificate, in the same "
		    "order", cf->cf_tls_cert2 ? "two --tls-cert, one --tls-key" :
		    "two --tls-key, one --tls-cert");
		return -1;
	}
	return 0;
}

/*
 * The context of a generation, in ctxp: NULL without TLS.  -1, logged,
 * when a setting is wrong or a file will not load.
 */
int
tls_init(const struct config *cf, SSL_CTX **ctxp)
{
	SSL_CTX	*ctx;
	char	 err[256];

	*ctxp = NULL;
	if (tlsctx_check(cf) == -1)
		return -1;
	if (cf->cf_tls_cert == NULL)
		return 0;
	if (ossl_load(err, sizeof(err)) == -1) {
		log_warnx("tls: %s", err);
		return -1;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		log_warnx("tls: %s", tls_error());
		return -1;
	}
	if (tlsctx_protocols(ctx, cf->cf_tls_protocols ?
	    cf->cf_tls_protocols : "TLSv1.2,TLSv1.3") == -1)
		goto fail;
	if (tlsctx_ciphers(ctx, "tls-ciphers", cf->cf_tls_ciphers ?
	    cf->cf_tls_ciphers : TLS_CIPHERS, SSL_CTX_set_cipher_list,
	    0) == -1)
		goto fail;
	if (cf->cf_tls_ciphersuites != NULL && tlsctx_ciphers(ctx,
	    "tls-ciphersuites", cf->cf_tls_ciphersuites,
	    SSL_CTX_set_ciphersuites, 1) == -1)
		goto fail;
	/* A peer that closes without close_notify has simply ended. */
	SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE |
	    SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
	/*
	 * The chain sent is the file's, as it is: without NO_AUTO_CHAIN,
	 * OpenSSL would try to build one at every handshake when the file
	 * holds only the leaf, at the cost of a signature check.
	 */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
	if (tlsctx_certs(ctx, cf) == -1 || tlsctx_tickets(ctx) == -1)
		goto fail;
	*ctxp = ctx;
	return 0;
 fail:
	SSL_CTX_free(ctx);
	return -1;
}
