/*
 * Building, sending, receiving and reassembling the records of ipc.h.
 * Sockets are non-blocking everywhere; whoever needs to wait polls.  The
 * memfds that carry large payloads are common/memfd.c's.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

/* Big enough for a few full datagrams in flight; the kernel may cap it. */
#define IPC_SNDBUF	(1024 * 1024)
/* A reassembly buffer larger than this is freed once its message is read. */
#define IPC_KEEPBUF	(1024 * 1024)

/*
 * SOCK_SEQPACKET, not SOCK_DGRAM: the same datagrams, but what a peer sent
 * before it died stays readable.  A datagram socket drops its whole
 * receive queue when it sends to a dead peer, and with it the answers a
 * worker sent just before it exited.
 */
int
ipc_socketpair(int sv[2])
{
	int	 sz = IPC_SNDBUF, i;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0, sv) == -1)
		return -1;
	for (i = 0; i < 2; i++)
		(void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &sz,
		    sizeof(sz));
	return 0;
}

void
ipc_out_init(struct ipc_out *out, int fd)
{
	out->o_fd = fd;
	out->o_count = 0;
	TAILQ_INIT(&out->o_queue);
}

static struct ipc_dgram *
ipc_dgram_new(size_t need)
{
	struct ipc_dgram	*d;
	size_t			 cap = need < 4096 ? 4096 : need;

	if ((d = malloc(sizeof(*d))) == NULL)
		return NULL;
	if ((d->d_buf = malloc(cap)) == NULL) {
		free(d);
		return NULL;
	}
	d->d_len = 0;
	d->d_cap = cap;
	d->d_fd = -1;
	return d;
}

/* Append one record, into the last datagram when it has room. */
static int
ipc_out_record(struct ipc_out *out, const struct ipc_hdr *hdr,
    const void *data, size_t len)
{
	struct ipc_dgram	*d;
	size_t			 need = sizeof(*hdr) + len, cap;
	char			*nbuf;

	d = TAILQ_LAST(&out->o_queue, ipc_dgramq);
	/* A passed descriptor belongs to its record alone. */
	if (d == NULL || d->d_len + need > IPC_DGRAM || d->d_fd != -1) {
		if ((d = ipc_dgram_new(need)) == NULL)
			return -1;
		TAILQ_INSERT_TAIL(&out->o_queue, d, d_entry);
		out->o_count++;
	}
	if (d->d_len + need > d->d_cap) {
		cap = d->d_cap * 2;
		while (cap < d->d_len + need)
			cap *= 2;
		if (cap > IPC_DGRAM)
			cap = IPC_DGRAM;
		if ((nbuf = realloc(d->d_buf, cap)) == NULL)
			return -1;
		d->d_buf = nbuf;
		d->d_cap = cap;
	}
	memcpy(d->d_buf + d->d_len, hdr, sizeof(*hdr));
	if (len > 0)
		memcpy(d->d_buf + d->d_len + sizeof(*hdr), data, len);
	d->d_len += need;
	return 0;
}

/*
 * Queue a message of any size; hdr's h_len and IPC_F_MORE are ours to set.
 * Nothing is sent until ipc_out_flush().
 */
int
ipc_out_add(struct ipc_out *out, const struct ipc_hdr *hdr, const void *data,
    size_t len)
{
	struct ipc_hdr	 h = *hdr;
	const char	*p = data;
	size_t		 n;

	h.h_flags &= ~IPC_F_MORE;
	if (len <= IPC_FRAG) {
		h.h_len = len;
		return ipc_out_record(out, &h, data, len);
	}
	while (len > 0) {
		n = len > IPC_FRAG ? IPC_FRAG : len;
		h.h_len = n;
		if (n < len)
			h.h_flags |= IPC_F_MORE;
		else
			h.h_flags &= ~IPC_F_MORE;
		if (ipc_out_record(out, &h, p, n) == -1)
			return -1;
		p += n;
		len -= n;
	}
	return 0;
}

/*
 * Queue a record whose payload of size bytes is in the memfd fd, which
 * the queue now owns (and closes once sent, or on ipc_out_clear).
 */
int
ipc_out_addfd(struct ipc_out *out, const struct ipc_hdr *hdr, int fd,
    size_t size)
{
	struct ipc_hdr		 h = *hdr;
	struct ipc_dgram	*d;
	uint64_t		 sz = size;

	h.h_flags = (h.h_flags & ~IPC_F_MORE) | IPC_F_FD;
	h.h_len = sizeof(sz);
	if ((d = ipc_dgram_new(sizeof(h) + sizeof(sz))) == NULL) {
		(void)close(fd);
		return -1;
	}
	memcpy(d->d_buf, &h, sizeof(h));
	memcpy(d->d_buf + sizeof(h), &sz, sizeof(sz));
	d->d_len = sizeof(h) + sizeof(sz);
	d->d_fd = fd;
	TAILQ_INSERT_TAIL(&out->o_queue, d, d_entry);
	out->o_count++;
	return 0;
}

static ssize_t
ipc_sendfd(int sock, const struct ipc_dgram *d)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(sizeof(int))];
	} cm;
	struct iovec	 iov = { .iov_base = d->d_buf, .iov_len = d->d_len };
	struct msghdr	 msg;

	memset(&msg, 0, sizeof(msg));
	memset(&cm, 0, sizeof(cm));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	cm.hdr.cmsg_level = SOL_SOCKET;
	cm.hdr.cmsg_type = SCM_RIGHTS;
	cm.hdr.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&cm.hdr), &d->d_fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

static void
ipc_dgram_free(struct ipc_dgram *d)
{
	if (d->d_fd != -1)
		(void)close(d->d_fd);
	free(d->d_buf);
	free(d);
}

/*
 * Send what the socket takes.  Returns 0 when all is sent, 1 when the
 * socket is full (poll for POLLOUT), -1 when the peer is gone.
 */
int
ipc_out_flush(struct ipc_out *out)
{
	struct ipc_dgram	*d;
	ssize_t			 n;

	while ((d = TAILQ_FIRST(&out->o_queue)) != NULL) {
		if (d->d_fd != -1)
			n = ipc_sendfd(out->o_fd, d);
		else
			n = send(out->o_fd, d->d_buf, d->d_len, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == ENOBUFS)
				return 1;
			return -1;
		}
		TAILQ_REMOVE(&out->o_queue, d, d_entry);
		out->o_count--;
		ipc_dgram_free(d);
	}
	return 0;
}

void
ipc_out_clear(struct ipc_out *out)
{
	struct ipc_dgram	*d;

	while ((d = TAILQ_FIRST(&out->o_queue)) != NULL) {
		TAILQ_REMOVE(&out->o_queue, d, d_entry);
		ipc_dgram_free(d);
	}
	out->o_count = 0;
}

int
ipc_in_init(struct ipc_in *in, int fd, size_t max)
{
	memset(in, 0, sizeof(*in));
	in->i_fd = fd;
	in->i_max = max;
	in->i_passed = -1;
	return 0;
}

void
ipc_in_clear(struct ipc_in *in)
{
	if (in->i_passed != -1)
		(void)close(in->i_passed);
	free(in->i_buf);
	free(in->i_frag);
	memset(in, 0, sizeof(*in));
	in->i_fd = -1;
	in->i_passed = -1;
}

/* Keep the first descriptor a datagram brought; close any other. */
/* Close the descriptors a message passed, that nobody will claim. */
static void
ipc_closefds(struct msghdr *msg)
{
	struct cmsghdr	*c;
	int		 fd;
	size_t		 i, nfds;

	for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			(void)close(fd);
		}
	}
}

static void
ipc_in_takefds(struct ipc_in *in, struct msghdr *msg)
{
	struct cmsghdr	*c;
	int		 fds[4];
	size_t		 i, nfds;

	/* A descriptor nobody's record claimed is closed, not leaked. */
	if (in->i_passed != -1) {
		(void)close(in->i_passed);
		in->i_passed = -1;
	}
	for (c = CMSG_FIRSTHDR(msg); c != NULL; c = CMSG_NXTHDR(msg, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		if (nfds > 4)
			nfds = 4;
		memcpy(fds, CMSG_DATA(c), nfds * sizeof(int));
		for (i = 0; i < nfds; i++) {
			if (in->i_passed == -1)
				in->i_passed = fds[i];
			else
				(void)close(fds[i]);
		}
	}
}

/*
 * Receive one datagram.  Returns 1 when there is one to parse with
 * ipc_in_next(), 0 when the socket is empty, -1 on error.
 */
int
ipc_in_read(struct ipc_in *in)
{
	union ipc_cmsg	 cm;
	struct iovec	 iov;
	struct msghdr	 msg;
	ssize_t		 n;

	if (in->i_buf == NULL && (in->i_buf = malloc(IPC_DGRAM)) == NULL)
		return -1;
	iov.iov_base = in->i_buf;
	iov.iov_len = IPC_DGRAM;
	in->i_len = in->i_off = 0;
	in->i_dgram = in->i_buf;
	for (;;) {
		memset(&msg, 0, sizeof(msg));
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cm.c_buf;
		msg.msg_controllen = sizeof(cm.c_buf);
		n = recvmsg(in->i_fd, &msg, MSG_TRUNC | MSG_CMSG_CLOEXEC);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -1;
	}
	/* The end: the peer is gone (pidfds and PR_SET_PDEATHSIG tell
	   who died).  An empty message with descriptors is no end. */
	if (n == 0 && msg.msg_controllen == 0)
		return 0;
	ipc_in_takefds(in, &msg);
	/* Nobody of ours sends more than IPC_DGRAM: drop what is not ours. */
	if (n <= IPC_DGRAM && !(msg.msg_flags & MSG_TRUNC))
		in->i_len = n;
	return 1;
}

int
ipc_batch_init(struct ipc_batch *bt)
{
	int	 i;

	memset(bt, 0, sizeof(*bt));
	for (i = 0; i < IPC_BATCH; i++)
		if ((bt->bt_bufs[i] = malloc(IPC_DGRAM)) == NULL)
			return -1;
	return 0;
}

/*
 * Read up to max (at most IPC_BATCH) datagrams from fd in one call.
 * Returns how many, 0 when the socket is empty, -1 on error.
 */
int
ipc_batch_read(struct ipc_batch *bt, int fd, int max)
{
	int	 i, j, n;

	if (max > IPC_BATCH)
		max = IPC_BATCH;
	if (max < 1)
		max = 1;
	for (i = 0; i < max; i++) {
		bt->bt_iov[i].iov_base = bt->bt_bufs[i];
		bt->bt_iov[i].iov_len = IPC_DGRAM;
		memset(&bt->bt_msgs[i], 0, sizeof(bt->bt_msgs[i]));
		bt->bt_msgs[i].msg_hdr.msg_iov = &bt->bt_iov[i];
		bt->bt_msgs[i].msg_hdr.msg_iovlen = 1;
		bt->bt_msgs[i].msg_hdr.msg_control = bt->bt_cm[i].c_buf;
		bt->bt_msgs[i].msg_hdr.msg_controllen =
		    sizeof(bt->bt_cm[i].c_buf);
	}
	while ((n = recvmmsg(fd, bt->bt_msgs, max, MSG_DONTWAIT |
	    MSG_CMSG_CLOEXEC, NULL)) == -1 && errno == EINTR)
		;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	/*
	 * An empty message without descriptors is the end: the peer is
	 * gone, and nothing follows it.  Whatever a broken peer sent after
	 * one is dropped, its descriptors closed.
	 */
	for (i = 0; i < n; i++)
		if (bt->bt_msgs[i].msg_len == 0 &&
		    bt->bt_msgs[i].msg_hdr.msg_controllen == 0)
			break;
	for (j = i + 1; j < n; j++)
		ipc_closefds(&bt->bt_msgs[j].msg_hdr);
	return i;
}

/* Hand datagram i of a batch to in, to parse with ipc_in_next(). */
void
ipc_in_feed(struct ipc_in *in, struct ipc_batch *bt, int i)
{
	struct mmsghdr	*m = &bt->bt_msgs[i];

	ipc_in_takefds(in, &m->msg_hdr);
	in->i_dgram = bt->bt_bufs[i];
	in->i_off = 0;
	in->i_len = (m->msg_hdr.msg_flags & MSG_TRUNC) ? 0 : m->msg_len;
}

static int
ipc_in_append(struct ipc_in *in, const char *data, size_t len)
{
	size_t	 cap;
	char	*nbuf;

	/* Only a broken peer sends an empty fragment; i_frag may be NULL. */
	if (len == 0)
		return 0;
	if (in->i_fraglen + len > in->i_fragcap) {
		cap = in->i_fragcap ? in->i_fragcap : IPC_DGRAM;
		while (cap < in->i_fraglen + len)
			cap *= 2;
		if ((nbuf = realloc(in->i_frag, cap)) == NULL)
			return -1;
		in->i_frag = nbuf;
		in->i_fragcap = cap;
	}
	memcpy(in->i_frag + in->i_fraglen, data, len);
	in->i_fraglen += len;
	return 0;
}

static int
ipc_in_continues(const struct ipc_in *in, const struct ipc_hdr *h)
{
	return h->h_type == in->i_fhdr.h_type && h->h_id == in->i_fhdr.h_id &&
	    h->h_pid == in->i_fhdr.h_pid && h->h_slot == in->i_fhdr.h_slot;
}

/* A record whose payload is in the descriptor passed with it. */
static int
ipc_in_memfd(struct ipc_in *in, const struct ipc_hdr *h, const char *data,
    struct ipc_msg *msg)
{
	uint64_t	 size;

	if (h->h_len != sizeof(size) || in->i_passed == -1)
		return -1;
	memcpy(&size, data, sizeof(size));
	if (size > in->i_max) {
		(void)close(in->i_passed);
		in->i_passed = -1;
		return -1;
	}
	msg->m_hdr = *h;
	msg->m_data = NULL;
	msg->m_len = size;
	msg->m_fd = in->i_passed;
	in->i_passed = -1;
	return 0;
}

/*
 * The next whole message of the datagram last read: 1 and msg filled, or
 * 0 when the datagram holds no more.  Malformed records and messages over
 * i_max are dropped: only a broken peer sends them, since every sender
 * checks the limit first.
 */
int
ipc_in_next(struct ipc_in *in, struct ipc_msg *msg)
{
	struct ipc_hdr	 h;
	const char	*data;
	int		 whole;

	if (!in->i_fragging && in->i_fragcap > IPC_KEEPBUF) {
		free(in->i_frag);
		in->i_frag = NULL;
		in->i_fragcap = 0;
	}
	while (in->i_len - in->i_off >= sizeof(h)) {
		memcpy(&h, in->i_dgram + in->i_off, sizeof(h));
		if (h.h_len > in->i_len - in->i_off - sizeof(h))
			break;
		data = in->i_dgram + in->i_off + sizeof(h);
		in->i_off += sizeof(h) + h.h_len;

		/*
		 * A whole record amid fragments is another sender's (a
		 * worker's answer on a handler's socket): the message in
		 * progress goes on.  A new first fragment means its sender
		 * died.
		 */
		whole = !(h.h_flags & IPC_F_MORE) &&
		    !(in->i_fragging && ipc_in_continues(in, &h));
		if (in->i_fragging && !whole && !ipc_in_continues(in, &h))
			in->i_fragging = 0;
		if (h.h_flags & IPC_F_FD) {
			if (ipc_in_memfd(in, &h, data, msg) == 0)
				return 1;
			continue;
		}
		if (whole) {
			if (h.h_len > in->i_max)
				continue;
			msg->m_hdr = h;
			msg->m_data = data;
			msg->m_len = h.h_len;
			msg->m_fd = -1;
			return 1;
		}
		if (!in->i_fragging) {
			in->i_fragging = 1;
			in->i_fhdr = h;
			in->i_fraglen = 0;
		}
		/* Too big: keep reading its fragments, but to drop them. */
		if (in->i_fragging == 1 && (in->i_fraglen + h.h_len >
		    in->i_max || ipc_in_append(in, data, h.h_len) == -1))
			in->i_fragging = 2;
		if (h.h_flags & IPC_F_MORE)
			continue;
		if (in->i_fragging == 2) {
			in->i_fragging = 0;
			continue;
		}
		in->i_fragging = 0;
		msg->m_hdr = in->i_fhdr;
		msg->m_hdr.h_flags = h.h_flags;
		msg->m_hdr.h_len = in->i_fraglen;
		msg->m_data = in->i_frag;
		msg->m_len = in->i_fraglen;
		msg->m_fd = -1;
		return 1;
	}
	in->i_off = in->i_len;
	return 0;
}
