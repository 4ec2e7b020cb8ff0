/*
 * The memfds that carry payloads of IPC_FDMIN bytes or more (common/ipc.h):
 * filling one, reusing a spare, and mapping what one holds to read it.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipc.h"

/*
 * A memfd holding data: *spare when there is one (taken: -1 after), else
 * a new one.  Returns the descriptor, or -1.
 */
int
ipc_memfd_put(int *spare, const char *data, size_t len)
{
	int	 fd = *spare;
	ssize_t	 n;
	size_t	 off = 0;

	*spare = -1;
	if (fd == -1 && (fd = memfd_create("slua", MFD_CLOEXEC)) == -1)
		return -1;
	/* Shrink first: pages past the end are freed, not kept. */
	if (ftruncate(fd, len) == -1)
		goto fail;
	while (off < len) {
		n = pwrite(fd, data + off, len - off, off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += n;
	}
	return fd;
 fail:
	(void)close(fd);
	return -1;
}

/*
 * The mappings of the memfds a process reads.  The same few memfds come
 * back again and again (see lua/work.c), so a mapping is kept, by inode,
 * and reused: mapping 16 MiB anew costs as much as copying it.
 */
#define IPC_MAPS	4
#define IPC_MAPMAX	(32 * 1024 * 1024)

static struct ipc_map {
	dev_t	 m_dev;
	ino_t	 m_ino;
	void	*m_addr;
	size_t	 m_len;
} ipc_maps[IPC_MAPS];
static int	 ipc_mapnext;

/* The first len bytes of a memfd, mapped; NULL on failure. */
const void *
ipc_memfd_map(int fd, size_t len)
{
	struct stat	 st;
	struct ipc_map	*m;
	void		*p;
	int		 i;

	if (len == 0 || fstat(fd, &st) == -1)
		return NULL;
	for (i = 0; i < IPC_MAPS; i++) {
		m = &ipc_maps[i];
		if (m->m_addr != NULL && m->m_dev == st.st_dev &&
		    m->m_ino == st.st_ino && m->m_len >= len)
			return m->m_addr;
	}
	p = mmap(NULL, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* Keeping a mapping keeps its pages: only moderate ones are kept. */
	if (len > IPC_MAPMAX)
		return p;
	m = &ipc_maps[ipc_mapnext];
	ipc_mapnext = (ipc_mapnext + 1) % IPC_MAPS;
	if (m->m_addr != NULL)
		(void)munmap(m->m_addr, m->m_len);
	m->m_dev = st.st_dev;
	m->m_ino = st.st_ino;
	m->m_addr = p;
	m->m_len = len;
	return p;
}

/* Done with a mapping: it goes unless it is kept for next time. */
void
ipc_memfd_unmap(const void *p, size_t len)
{
	int	 i;

	for (i = 0; i < IPC_MAPS; i++)
		if (ipc_maps[i].m_addr == p)
			return;
	if (p != NULL)
		(void)munmap((void *)p, len);
}
