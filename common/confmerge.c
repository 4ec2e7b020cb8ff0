/*
 * A configuration's values before and after its sources: every setting
 * starts unset (config_init), the command line wins over the config file
 * (config_merge), and what neither set gets its default (config_defaults,
 * the values slua(1) and slua.conf(5) document).
 */
#include <string.h>
#include <unistd.h>

#include "config.h"

void
config_init(struct config *cf)
{
	memset(cf, 0, sizeof(*cf));
	cf->cf_port = -1;
	cf->cf_daemon = -1;
	cf->cf_handlers = -1;
	cf->cf_max_handlers = -1;
	cf->cf_max_requests = -1;
	cf->cf_max_line = -1;
	cf->cf_timeout = -1;
	cf->cf_handler_timeout = -1;
	cf->cf_grace = -1;
	cf->cf_request_timeout = -1;
	cf->cf_tls_timeout = -1;
	cf->cf_greeting = -1;
	cf->cf_workers = -1;
	cf->cf_max_jobs = -1;
	cf->cf_max_job_size = -1;
	cf->cf_job_timeout = -1;
	cf->cf_max_memory = -1;
	cf->cf_proxy_protocol = -1;
}

#define MERGE(f, unset) do {				\
	if (dst->f == (unset))					\
		dst->f = src->f;				\
} while (0)

/* Fill what dst left unset from src: the command line wins. */
void
config_merge(struct config *dst, const struct config *src)
{
	int	 i;

	MERGE(cf_handler, NULL);
	MERGE(cf_worker, NULL);
	MERGE(cf_port, -1);
	MERGE(cf_daemon, -1);
	MERGE(cf_user, NULL);
	MERGE(cf_pidfile, NULL);
	MERGE(cf_status, NULL);
	if (dst->cf_tls_cert == NULL) {		/* both pairs, or none */
		dst->cf_tls_cert = src->cf_tls_cert;
		dst->cf_tls_cert2 = src->cf_tls_cert2;
	}
	if (dst->cf_tls_key == NULL) {
		dst->cf_tls_key = src->cf_tls_key;
		dst->cf_tls_key2 = src->cf_tls_key2;
	}
	MERGE(cf_tls_ciphers, NULL);
	MERGE(cf_tls_ciphersuites, NULL);
	MERGE(cf_tls_protocols, NULL);
	MERGE(cf_handlers, -1);
	MERGE(cf_max_handlers, -1);
	MERGE(cf_max_requests, -1);
	MERGE(cf_max_line, -1);
	MERGE(cf_timeout, -1);
	MERGE(cf_handler_timeout, -1);
	MERGE(cf_grace, -1);
	MERGE(cf_request_timeout, -1);
	MERGE(cf_tls_timeout, -1);
	MERGE(cf_greeting, -1);
	MERGE(cf_workers, -1);
	MERGE(cf_max_jobs, -1);
	MERGE(cf_max_job_size, -1);
	MERGE(cf_job_timeout, -1);
	MERGE(cf_max_memory, -1);
	MERGE(cf_proxy_protocol, -1);
	MERGE(cf_queue, NULL);
	MERGE(cf_queue_name, NULL);
	MERGE(cf_queue_sentinel_password, NULL);
	if (dst->cf_nlisten == 0) {
		for (i = 0; i < src->cf_nlisten; i++)
			dst->cf_listen[i] = src->cf_listen[i];
		dst->cf_nlisten = src->cf_nlisten;
	}
	if (src->cf_verbose > dst->cf_verbose)
		dst->cf_verbose = src->cf_verbose;
}

static int
ncpu(void)
{
	long	 n;

	n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		return 1;
	return n > 1024 ? 1024 : (int)n;
}

void
config_defaults(struct config *cf)
{
	if (cf->cf_daemon == -1)
		cf->cf_daemon = 0;
	if (cf->cf_pidfile == NULL)
		cf->cf_pidfile = CONFIG_DEFAULT_PIDFILE;
	if (cf->cf_handlers == -1)
		cf->cf_handlers = cf->cf_port == -1 ? 1 : 2 * ncpu();
	if (cf->cf_max_handlers == -1 || cf->cf_max_handlers < cf->cf_handlers)
		cf->cf_max_handlers = cf->cf_handlers;
	if (cf->cf_max_requests == -1)
		cf->cf_max_requests = 0;
	if (cf->cf_max_line == -1)
		cf->cf_max_line = 64 * 1024;
	if (cf->cf_timeout == -1)
		cf->cf_timeout = 60;
	if (cf->cf_handler_timeout == -1)
		cf->cf_handler_timeout = 0;
	if (cf->cf_grace == -1)
		cf->cf_grace = 10;
	if (cf->cf_request_timeout == -1)
		cf->cf_request_timeout = 30;
	if (cf->cf_tls_timeout == -1)
		cf->cf_tls_timeout = 10;
	if (cf->cf_greeting == -1)
		cf->cf_greeting = 0;
	if (cf->cf_workers == -1)
		cf->cf_workers = ncpu();
	if (cf->cf_max_jobs == -1)
		cf->cf_max_jobs = 1024;
	if (cf->cf_max_job_size == -1)
		cf->cf_max_job_size = 64LL << 20;
	if (cf->cf_job_timeout == -1)
		cf->cf_job_timeout = 0;
	if (cf->cf_max_memory == -1)
		cf->cf_max_memory = 0;
	if (cf->cf_proxy_protocol == -1)
		cf->cf_proxy_protocol = 0;
	if (cf->cf_queue_name == NULL)
		cf->cf_queue_name = "slua";
}
