/*
 * The jobs figure through gearmand, the job server slua would otherwise
 * be compared with.  Built only where libgearman is installed.
 *
 *	gearjobs worker port
 *	gearjobs client port count inflight
 *
 * worker: registers "echo" with the gearmand on 127.0.0.1:port and answers
 * every job with its own bytes, until killed.
 * client: runs `count' echo jobs of the same 64 bytes as the raw relay's,
 * `inflight' tasks to a batch (libgearman's way of keeping jobs in
 * flight), and prints "<jobs/s> jobs/s <us> us/job".
 */
#include <netinet/in.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libgearman/gearman.h>

#include "benchutil.h"

#define GEAR_HOST	"127.0.0.1"
#define GEAR_FUNC	"echo"
#define GEAR_JOB	64

static void *
echo(gearman_job_st *job, void *ctx, size_t *len, gearman_return_t *ret)
{
	const void	*in = gearman_job_workload(job);
	void		*out;

	(void)ctx;
	*len = gearman_job_workload_size(job);
	/* libgearman frees the result; an empty job still needs a pointer. */
	if ((out = malloc(*len ? *len : 1)) == NULL) {
		*ret = GEARMAN_WORK_FAIL;
		return NULL;
	}
	if (*len > 0)
		memcpy(out, in, *len);
	*ret = GEARMAN_SUCCESS;
	return out;
}

static int
worker(in_port_t port)
{
	gearman_worker_st	*w;
	gearman_return_t	 rc;

	if ((w = gearman_worker_create(NULL)) == NULL)
		errx(111, "gearman_worker_create failed");
	if ((rc = gearman_worker_add_server(w, GEAR_HOST, port)) !=
	    GEARMAN_SUCCESS ||
	    (rc = gearman_worker_add_function(w, GEAR_FUNC, 0, echo,
	    NULL)) != GEARMAN_SUCCESS)
		errx(111, "worker: %s", gearman_worker_error(w));
	for (;;)
		if ((rc = gearman_worker_work(w)) != GEARMAN_SUCCESS)
			errx(111, "worker: %s", gearman_worker_error(w));
}

static long	 answered;

static gearman_return_t
complete(gearman_task_st *t)
{
	if (gearman_task_data_size(t) != GEAR_JOB)
		errx(111, "client: answer of %zu bytes",
		    gearman_task_data_size(t));
	answered++;
	return GEARMAN_SUCCESS;
}

static int
client(in_port_t port, long count, long inflight)
{
	gearman_client_st	*c;
	gearman_return_t	 rc;
	char			 job[GEAR_JOB];
	double			 t0, t;
	long			 sent = 0, i, batch;

	memset(job, 'j', sizeof(job));
	if ((c = gearman_client_create(NULL)) == NULL)
		errx(111, "gearman_client_create failed");
	if ((rc = gearman_client_add_server(c, GEAR_HOST, port)) !=
	    GEARMAN_SUCCESS)
		errx(111, "client: %s", gearman_client_error(c));
	gearman_client_set_complete_fn(c, complete);

	t0 = now();
	while (sent < count) {
		batch = count - sent < inflight ? count - sent : inflight;
		for (i = 0; i < batch; i++)
			if (gearman_client_add_task(c, NULL, NULL, GEAR_FUNC,
			    NULL, job, sizeof(job), &rc) == NULL ||
			    rc != GEARMAN_SUCCESS)
				errx(111, "client: %s",
				    gearman_client_error(c));
		if ((rc = gearman_client_run_tasks(c)) != GEARMAN_SUCCESS)
			errx(111, "client: %s", gearman_client_error(c));
		gearman_client_task_free_all(c);
		sent += batch;
	}
	t = now() - t0;
	if (answered != count)
		errx(111, "client: %ld of %ld jobs answered", answered, count);
	printf("%.0f jobs/s %.2f us/job\n", count / t, t * 1e6 / count);
	if (fflush(stdout) == EOF)
		err(111, "stdout");
	gearman_client_free(c);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc == 3 && strcmp(argv[1], "worker") == 0)
		return worker(number(argv[2], 1, 65535, "port"));
	if (argc == 5 && strcmp(argv[1], "client") == 0)
		return client(number(argv[2], 1, 65535, "port"),
		    number(argv[3], 1, 1000000000, "count"),
		    number(argv[4], 1, 100000, "inflight"));
	fprintf(stderr, "usage: gearjobs worker port\n"
	    "       gearjobs client port count inflight\n");
	return 100;
}
