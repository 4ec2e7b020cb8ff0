/*
 * Building, sending, receiving and reassembling the records of ipc.h.
 * Sockets are non-blocking everywhere; whoever needs to wait polls.
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

int
ipc_socketpair(int sv[2])
{
	int	 sz = IPC_SNDBUF, i;

	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
	    sv) == -1)
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
	if (d == NULL || d->d_len + need > IPC_DGRAM) {
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
 * Send what the socket takes.  Returns 0 when all is sent, 1 when the
 * socket is full (poll for POLLOUT), -1 when the peer is gone.
 */
int
ipc_out_flush(struct ipc_out *out)
{
	struct ipc_dgram	*d;
	ssize_t			 n;

	while ((d = TAILQ_FIRST(&out->o_queue)) != NULL) {
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
		free(d->d_buf);
		free(d);
	}
	return 0;
}

void
ipc_out_clear(struct ipc_out *out)
{
	struct ipc_dgram	*d;

	while ((d = TAILQ_FIRST(&out->o_queue)) != NULL) {
		TAILQ_REMOVE(&out->o_queue, d, d_entry);
		free(d->d_buf);
		free(d);
	}
	out->o_count = 0;
}

int
ipc_in_init(struct ipc_in *in, int fd, size_t max)
{
	memset(in, 0, sizeof(*in));
	in->i_fd = fd;
	in->i_max = max;
	if ((in->i_dgram = malloc(IPC_DGRAM)) == NULL)
		return -1;
	return 0;
}

void
ipc_in_clear(struct ipc_in *in)
{
	free(in->i_dgram);
	free(in->i_frag);
	memset(in, 0, sizeof(*in));
	in->i_fd = -1;
}

/*
 * Receive one datagram.  Returns 1 when there is one to parse with
 * ipc_in_next(), 0 when the socket is empty, -1 on error.
 */
int
ipc_in_read(struct ipc_in *in)
{
	ssize_t	 n;

	in->i_len = in->i_off = 0;
	for (;;) {
		n = recv(in->i_fd, in->i_dgram, IPC_DGRAM, MSG_TRUNC);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -1;
	}
	/* Nobody of ours sends more than IPC_DGRAM: drop what is not ours. */
	if (n <= IPC_DGRAM)
		in->i_len = n;
	return 1;
}

static int
ipc_in_append(struct ipc_in *in, const char *data, size_t len)
{
	size_t	 cap;
	char	*nbuf;

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

		if (in->i_fragging && !ipc_in_continues(in, &h))
			in->i_fragging = 0;	/* its sender died */
		if (!in->i_fragging && !(h.h_flags & IPC_F_MORE)) {
			if (h.h_len > in->i_max)
				continue;
			msg->m_hdr = h;
			msg->m_data = data;
			msg->m_len = h.h_len;
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
		return 1;
	}
	in->i_off = in->i_len;
	return 0;
}
