/*
 * The wire format between slua's processes.  All job traffic is AF_UNIX
 * SOCK_SEQPACKET socketpairs (datagrams that outlive their sender, see
 * ipc_socketpair()): one per handler slot between the handler and the
 * broker, one per worker between the worker and the broker.
 *
 * A datagram carries one or more records; a record is an ipc_hdr followed by
 * h_len bytes of payload.  Small records are packed together, which is what
 * keeps the system-call count per job low under load.  A payload larger than
 * one datagram travels as fragments: records of the same type and id, each
 * filling its datagram, with IPC_F_MORE on every one but the last.  Every
 * socket has a single sender at a time, so fragments arrive in order; a
 * fragment that does not continue the message in progress discards it (its
 * sender died mid-message).
 *
 * A payload of IPC_FDMIN bytes or more travels instead in a memfd passed
 * with SCM_RIGHTS: the record has IPC_F_FD, and its 8-byte payload is the
 * size.  Every hop then moves a descriptor, not the bytes, and processes
 * reuse their memfds (see lua/work.c) so their pages are not faulted in
 * again for each job.
 *
 * A worker may also send answers on the broker's end of a handler slot,
 * which it inherits (lua/work_direct.c): a handler's socket then has
 * several senders, each sending whole datagrams, and only the broker
 * sends fragments there.
 *
 * Status reports to the supervisor travel apart, on a socketpair of their
 * own, in the format common/stats.h tells.
 */
#ifndef SLUA_IPC_H
#define SLUA_IPC_H

#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

struct ipc_hdr {
	uint32_t	h_len;		/* payload bytes in this record */
	uint16_t	h_type;		/* IPC_* below */
	uint16_t	h_flags;	/* IPC_F_* below */
	uint32_t	h_slot;		/* the submitting handler's slot */
	uint32_t	h_pid;		/* the submitting handler's pid */
	uint64_t	h_id;		/* the job, numbered by its submitter */
};

/* Message types.  "handler" means the process that submitted the job. */
enum ipc_type {
	IPC_JOB = 1,	/* handler -> broker -> worker: a job to run */
	IPC_ANSWER,	/* worker -> broker -> handler: the job's answer */
	IPC_ERROR,	/* worker or broker -> handler: the job failed; the
			   payload says why */
	IPC_FORWARD,	/* worker -> broker: a new job whose answer answers
			   the worker's current job */
	IPC_STATS,	/* any -> broker: asks; broker -> any: struct
			   ipc_stats as the payload */
	IPC_READY,	/* worker -> broker: my script reached its first
			   work.accept(); no payload */
	IPC_STARTFAIL,	/* worker -> broker: my script failed before its
			   first work.accept(), and I exit; the payload is
			   the Lua error */
	IPC_EXIT,	/* worker -> broker, last: I exit (os.exit); the
			   jobs I hold but never accepted never started,
			   and with IPC_F_RUNNING, my first one did */
	IPC_DONE,	/* worker -> broker: I sent this job's answer to
			   its handler myself (lua/work_direct.c) */
};

#define IPC_F_MORE	0x0001	/* another fragment follows */
#define IPC_F_NIL	0x0002	/* IPC_ANSWER: the answer is nil */
#define IPC_F_LAST	0x0004	/* worker -> broker: I exit; no more jobs */
#define IPC_F_FD	0x0008	/* the payload is in the passed memfd */
#define IPC_F_RUNNING	0x0010	/* IPC_EXIT: I was running a job */
#define IPC_F_DIRECT	0x0020	/* IPC_JOB to a worker: answer it straight
				   to its handler's slot */

/*
 * IPC_DONE on the socket every worker of a broker shares (lua/work_direct.c):
 * which worker sent it, and when the answer left, by CLOCK_MONOTONIC.
 */
struct ipc_done {
	uint32_t	d_worker;	/* its pid */
	uint32_t	d_nsec;
	uint64_t	d_sec;
};

struct ipc_stats {
	uint32_t	s_backlog;	/* jobs waiting for a worker */
	uint32_t	s_idle;		/* idle workers */
	uint32_t	s_pool;		/* workers alive */
};

/* The largest datagram we send; the sockets' buffers are sized for it. */
#define IPC_DGRAM	(64 * 1024)
#define IPC_FRAG	(IPC_DGRAM - sizeof(struct ipc_hdr))
#define IPC_FDMIN	(256 * 1024)
#define IPC_JOBBATCH	32	/* jobs a handler batches in a datagram */

/* Outbound: datagrams built and waiting for the socket to take them. */
struct ipc_dgram {
	TAILQ_ENTRY(ipc_dgram)	 d_entry;
	size_t			 d_len;
	size_t			 d_cap;
	char			*d_buf;
	int			 d_fd;		/* passed with it, or -1 */
};
TAILQ_HEAD(ipc_dgramq, ipc_dgram);

struct ipc_out {
	int			 o_fd;
	struct ipc_dgramq	 o_queue;
	size_t			 o_count;	/* datagrams queued */
};

/* Inbound: the datagram being parsed and the message being reassembled. */
struct ipc_in {
	int		 i_fd;
	char		*i_buf;		/* ipc_in_read's, made on first use */
	const char	*i_dgram;	/* the datagram being parsed */
	size_t		 i_len;		/* bytes in i_dgram */
	size_t		 i_off;		/* next record */
	struct ipc_hdr	 i_fhdr;	/* first fragment's header */
	char		*i_frag;
	size_t		 i_fraglen;
	size_t		 i_fragcap;
	int		 i_fragging;	/* 1 collecting, 2 dropping */
	size_t		 i_max;		/* largest message accepted */
	int		 i_passed;	/* fd that came with the datagram */
};

/*
 * Several datagrams read with one recvmmsg(2), for the broker, which
 * reads many sockets: one set of buffers serves them all, each datagram
 * handed to its socket's ipc_in with ipc_in_feed().
 */
#define IPC_BATCH	16
union ipc_cmsg {
	struct cmsghdr	 c_hdr;
	char		 c_buf[CMSG_SPACE(4 * sizeof(int))];
};
struct ipc_batch {
	struct mmsghdr	 bt_msgs[IPC_BATCH];
	struct iovec	 bt_iov[IPC_BATCH];
	union ipc_cmsg	 bt_cm[IPC_BATCH];
	char		*bt_bufs[IPC_BATCH];
};

/* A whole message; m_data stays valid until the next ipc_in call. */
struct ipc_msg {
	struct ipc_hdr	 m_hdr;
	const char	*m_data;
	size_t		 m_len;
	int		 m_fd;		/* IPC_F_FD: the memfd, now the
					   receiver's to close; else -1 */
};

int	ipc_socketpair(int [2]);
void	ipc_out_init(struct ipc_out *, int);
int	ipc_out_add(struct ipc_out *, const struct ipc_hdr *, const void *,
	    size_t);
int	ipc_out_addfd(struct ipc_out *, const struct ipc_hdr *, int, size_t);
int	ipc_out_flush(struct ipc_out *);
void	ipc_out_clear(struct ipc_out *);
int	ipc_in_init(struct ipc_in *, int, size_t);
int	ipc_in_read(struct ipc_in *);
int	ipc_in_next(struct ipc_in *, struct ipc_msg *);
int	ipc_batch_init(struct ipc_batch *);
int	ipc_batch_read(struct ipc_batch *, int, int);
void	ipc_in_feed(struct ipc_in *, struct ipc_batch *, int);
void	ipc_in_clear(struct ipc_in *);
int	ipc_memfd_put(int *, const char *, size_t);
const void *ipc_memfd_map(int, size_t);
void	ipc_memfd_unmap(const void *, size_t);

#endif
