/*
 * libFuzzer target: the inbound half of common/ipc.c, which parses
 * whatever arrives on a broker's, handler's or worker's socket.
 *
 * The first input byte picks the mode (bit 0) and the message limit,
 * i_max (the rest of the byte): small limits put the oversize paths
 * within reach of small inputs.
 *
 * Raw mode: the rest of the input is datagrams, each a two-byte
 * big-endian word and bytes, sent on an ipc socketpair and drained with
 * ipc_in_read and ipc_in_next.  The word's low 13 bits are a length; bit
 * 15 makes the datagram that length times 16, filled with a chunk whose
 * length is the next byte, repeated (datagrams beyond IPC_DGRAM,
 * fragments of many kilobytes); bit 14 passes a descriptor with it, and
 * bit 13 five of them.  Whatever comes out must be whole, within the
 * limit, and carry a descriptor exactly when it says so; and no
 * descriptor may be left open.
 *
 * Round-trip mode: the rest describes messages, six bytes each (type,
 * flags, a length as a shift and two bytes, an id byte), whose payloads
 * are the input repeated.  ipc_out_add frames them, or ipc_out_addfd
 * when the flags have IPC_F_FD; the type's top bit flushes after the
 * message.  ipc_in_next must give back exactly those within the limit,
 * in order, byte for byte.
 */
#include <sys/mman.h>
#include <sys/socket.h>

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAXMSGS	256
#define FUZZ_MAXLEN	(0xffff << 3)	/* per message: 8 fragments */
#define FUZZ_MAXTOTAL	(2 << 20)	/* per input: keeps runs fast */
#define FUZZ_REPEAT	0x8000
#define FUZZ_PASSFD	0x4000
#define FUZZ_PASS5	0x2000
#define FUZZ_LENMASK	0x1fff

static const size_t limits[] = {
	0, 1, 16, 64, 256, 4096, IPC_FRAG, IPC_FRAG + 1, 2 * IPC_FRAG,
	64 << 20
};

struct expect {
	struct ipc_hdr	 e_hdr;
	size_t		 e_off;		/* its payload's start in the pool */
	size_t		 e_len;
};

struct fuzz {
	struct ipc_in	 f_in;
	const uint8_t	*f_pool;	/* payload bytes, used round */
	size_t		 f_poolsize;
	struct expect	 f_exp[FUZZ_MAXMSGS];
	size_t		 f_nexp;
	size_t		 f_next;	/* the next expected message */
	int		 f_spare;	/* a memfd received, to reuse */
	char		 f_buf[FUZZ_MAXLEN];
};

static int	 sv[2] = { -1, -1 };
static int	 memfd = -1;		/* what raw mode passes, dup'd */
static char	 dgram[FUZZ_LENMASK * 16];

static void
fail(const char *what)
{
	(void)fprintf(stderr, "fuzz_ipc: %s\n", what);
	abort();
}

/* The lowest free descriptor: it moves up when one leaks. */
static int
lowest_free(void)
{
	int	 fd;

	if ((fd = dup(0)) == -1)
		fail("dup failed");
	(void)close(fd);
	return fd;
}

/* The payload of len bytes at offset off of the endless pool. */
static void
pool_fill(const struct fuzz *f, char *buf, size_t off, size_t len)
{
	size_t	 n;

	if (f->f_poolsize == 0) {
		memset(buf, 0, len);
		return;
	}
	for (off %= f->f_poolsize; len > 0; off = 0) {
		n = f->f_poolsize - off < len ? f->f_poolsize - off : len;
		memcpy(buf, f->f_pool + off, n);
		buf += n;
		len -= n;
	}
}

static void
check_raw(struct fuzz *f, const struct ipc_msg *msg)
{
	char	*copy;

	if (msg->m_len > f->f_in.i_max)
		fail("a message over i_max");
	/* A memfd record is never a fragment: IPC_F_MORE means nothing. */
	if (msg->m_hdr.h_flags & IPC_F_FD) {
		if (msg->m_fd == -1 || fcntl(msg->m_fd, F_GETFD) == -1)
			fail("IPC_F_FD without a descriptor");
		if (msg->m_data != NULL)
			fail("IPC_F_FD with data");
		return;
	}
	if (msg->m_fd != -1)
		fail("a descriptor without IPC_F_FD");
	if (msg->m_hdr.h_flags & IPC_F_MORE)
		fail("a whole message with IPC_F_MORE");
	if (msg->m_len != msg->m_hdr.h_len)
		fail("m_len and h_len differ");
	/* Take a copy, as a caller may: ASan checks the bytes exist. */
	if (msg->m_len == 0)
		return;
	if ((copy = malloc(msg->m_len)) == NULL)
		fail("out of memory");
	memcpy(copy, msg->m_data, msg->m_len);
	free(copy);
}

static void
check_roundtrip(struct fuzz *f, const struct ipc_msg *msg)
{
	const struct expect	*e;
	const char		*data = msg->m_data;
	const void		*map = NULL;

	check_raw(f, msg);
	/* Those over the limit are dropped on the way in. */
	while (f->f_next < f->f_nexp &&
	    f->f_exp[f->f_next].e_len > f->f_in.i_max)
		f->f_next++;
	if (f->f_next == f->f_nexp)
		fail("a message nobody sent");
	e = &f->f_exp[f->f_next++];
	if (msg->m_hdr.h_type != e->e_hdr.h_type ||
	    msg->m_hdr.h_flags != (e->e_hdr.h_flags & ~IPC_F_MORE) ||
	    msg->m_hdr.h_slot != e->e_hdr.h_slot ||
	    msg->m_hdr.h_pid != e->e_hdr.h_pid ||
	    msg->m_hdr.h_id != e->e_hdr.h_id)
		fail("a header changed on the way");
	if (msg->m_len != e->e_len)
		fail("a message changed its length on the way");
	if (msg->m_fd != -1 && e->e_len > 0) {
		if ((map = ipc_memfd_map(msg->m_fd, e->e_len)) == NULL)
			fail("cannot map a passed memfd");
		data = map;
	}
	pool_fill(f, f->f_buf, e->e_off, e->e_len);
	if (e->e_len > 0 && memcmp(data, f->f_buf, e->e_len) != 0)
		fail("a payload changed on the way");
	ipc_memfd_unmap(map, e->e_len);
}

/* Take every datagram waiting and every message in them. */
static void
drain(struct fuzz *f, int roundtrip)
{
	struct ipc_msg	 msg;
	int		 r;

	while ((r = ipc_in_read(&f->f_in)) == 1)
		while (ipc_in_next(&f->f_in, &msg) == 1) {
			if (roundtrip)
				check_roundtrip(f, &msg);
			else
				check_raw(f, &msg);
			if (msg.m_fd == -1)
				continue;
			/* Kept for the next sender, as work.c keeps one. */
			if (roundtrip && f->f_spare == -1)
				f->f_spare = msg.m_fd;
			else
				(void)close(msg.m_fd);
		}
	if (r == -1)
		fail("ipc_in_read failed");
}

/* Send len bytes of dgram with nfds descriptors, dups of memfd. */
static void
send_dgram(size_t len, int nfds)
{
	union {
		struct cmsghdr	 hdr;
		char		 buf[CMSG_SPACE(5 * sizeof(int))];
	} cm;
	struct iovec	 iov = { .iov_base = dgram, .iov_len = len };
	struct msghdr	 msg;
	int		 fds[5], i;

	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (nfds > 0) {
		for (i = 0; i < nfds; i++)
			if ((fds[i] = dup(memfd)) == -1)
				fail("dup failed");
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm.hdr.cmsg_level = SOL_SOCKET;
		cm.hdr.cmsg_type = SCM_RIGHTS;
		cm.hdr.cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(&cm.hdr), fds, nfds * sizeof(int));
	}
	if (sendmsg(sv[0], &msg, 0) == -1)
		fail("sendmsg failed");
	/* In flight, the kernel holds its own references. */
	for (i = 0; i < nfds; i++)
		(void)close(fds[i]);
}

static void
fuzz_raw(struct fuzz *f, const uint8_t *p, size_t n)
{
	size_t	 word, len, chunk, i;
	int	 nfds;

	while (n >= 2) {
		word = (size_t)p[0] << 8 | p[1];
		p += 2;
		n -= 2;
		len = word & FUZZ_LENMASK;
		if (word & FUZZ_REPEAT) {
			len *= 16;
			chunk = n > 0 ? p[0] : 0;
			if (n > 0) {
				p++;
				n--;
			}
			if (chunk > n)
				chunk = n;
			for (i = 0; i < len; i++)
				dgram[i] = chunk ? p[i % chunk] : 0;
			p += chunk;
			n -= chunk;
		} else {
			if (len > n)
				len = n;
			memcpy(dgram, p, len);
			p += len;
			n -= len;
		}
		nfds = word & FUZZ_PASSFD ? (word & FUZZ_PASS5 ? 5 : 1) : 0;
		send_dgram(len, nfds);
		drain(f, 0);
	}
}

static void
flush(struct fuzz *f, struct ipc_out *out)
{
	int	 r;

	/* A full socket: the reader makes room, as a peer would. */
	while ((r = ipc_out_flush(out)) == 1)
		drain(f, 1);
	if (r == -1)
		fail("ipc_out_flush failed");
	drain(f, 1);
}

static void
fuzz_roundtrip(struct fuzz *f, const uint8_t *p, size_t n)
{
	struct ipc_out	 out;
	struct expect	*e;
	size_t		 off = 0, total = 0, len;
	int		 fd;

	ipc_out_init(&out, sv[0]);
	for (; n >= 6 && f->f_nexp < FUZZ_MAXMSGS; p += 6, n -= 6) {
		/* Mostly small, now and then several fragments. */
		len = ((size_t)p[3] << 8 | p[4]) << (p[2] & 3);
		if ((total += len) > FUZZ_MAXTOTAL)
			break;
		e = &f->f_exp[f->f_nexp++];
		memset(&e->e_hdr, 0, sizeof(e->e_hdr));
		e->e_hdr.h_type = p[0] & 0x7f;
		e->e_hdr.h_flags = p[1];
		/* Few distinct ids, so that neighbours often look alike. */
		e->e_hdr.h_slot = p[5] & 3;
		e->e_hdr.h_pid = p[5] >> 6;
		e->e_hdr.h_id = (uint64_t)(p[5] & 0x3c) << 40;
		e->e_off = off;
		e->e_len = len;
		pool_fill(f, f->f_buf, off, len);
		off += len;
		if (e->e_hdr.h_flags & IPC_F_FD) {
			fd = -1;
			if ((fd = ipc_memfd_put(p[5] & 1 ? &f->f_spare : &fd,
			    f->f_buf, len)) == -1)
				fail("ipc_memfd_put failed");
			if (ipc_out_addfd(&out, &e->e_hdr, fd, len) == -1)
				fail("ipc_out_addfd failed");
		} else if (ipc_out_add(&out, &e->e_hdr, f->f_buf, len) == -1)
			fail("ipc_out_add failed");
		/* Unflushed records share datagrams, as they do under load. */
		if (p[0] & 0x80)
			flush(f, &out);
	}
	flush(f, &out);
	while (f->f_next < f->f_nexp &&
	    f->f_exp[f->f_next].e_len > f->f_in.i_max)
		f->f_next++;
	if (f->f_next != f->f_nexp)
		fail("a message sent was never received");
	ipc_out_clear(&out);
}

static void
fuzz_init(void)
{
	static const char	 text[] = "a memfd passed in raw mode";

	if (ipc_socketpair(sv) == -1)
		fail("socketpair failed");
	if ((memfd = memfd_create("fuzz_ipc", MFD_CLOEXEC)) == -1 ||
	    write(memfd, text, sizeof(text)) != sizeof(text))
		fail("memfd_create failed");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz	 f;	/* static: f_buf is large */
	int			 lowest;

	if (size == 0)
		return 0;
	if (sv[0] == -1)
		fuzz_init();
	lowest = lowest_free();
	if (ipc_in_init(&f.f_in, sv[1],
	    limits[(data[0] >> 1) % (sizeof(limits) / sizeof(limits[0]))]) ==
	    -1)
		fail("out of memory");
	f.f_pool = data + 1;
	f.f_poolsize = size - 1;
	f.f_nexp = f.f_next = 0;
	f.f_spare = -1;
	if (data[0] & 1)
		fuzz_roundtrip(&f, data + 1, size - 1);
	else
		fuzz_raw(&f, data + 1, size - 1);
	ipc_in_clear(&f.f_in);
	if (f.f_spare != -1)
		(void)close(f.f_spare);
	if (lowest_free() != lowest)
		fail("a descriptor was left open");
	return 0;
}
