/*
 * hiredis's reply objects for the broker's connections, cut from a block
 * each connection keeps.  hiredis's own make each element, and each
 * string's copy, a malloc() and a free(): a batch of jobs read is a few
 * thousand of them.  A reply lives until hiredis hands it back
 * (qreply_free: after its callback, or a reply half read when the
 * connection goes), and replies on a connection are read one after the
 * other, so the whole block is free again then.
 *
 * The objects are hiredis's redisReply, as its callers and hiredis itself
 * read them.  The root of a reply is preceded by its arena, which is how
 * qreply_free finds it.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "log.h"
#include "queue.h"

#define QREPLY_BLOCK	(64 * 1024)	/* a connection's first block */
#define QREPLY_MAXKEEP	(1024 * 1024)	/* largest block kept for the next */

/* A block beyond the first, while the reply that needed it lives. */
struct qrblock {
	struct qrblock	*rb_next;
	max_align_t	 rb_data[];
};

/* Room for n bytes, aligned for any object. */
static void *
qreply_alloc(struct qarena *a, size_t n)
{
	struct qrblock	*rb;
	size_t		 size;
	char		*p;

	n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (n > a->ra_left) {
		/* Past the block: one of its own, freed with the reply. */
		size = n > QREPLY_BLOCK ? n : QREPLY_BLOCK;
		if ((rb = malloc(sizeof(*rb) + size)) == NULL)
			return NULL;
		rb->rb_next = a->ra_more;
		a->ra_more = rb;
		a->ra_cur = (char *)rb->rb_data;
		a->ra_left = size;
	}
	p = a->ra_cur;
	a->ra_cur += n;
	a->ra_left -= n;
	a->ra_used += n;
	return p;
}

/*
 * The reply is done with: the block is free again.  One that needed more
 * is replaced by one of the size it needed (up to QREPLY_MAXKEEP), so that
 * a connection whose replies are large comes to one block a reply.
 */
static void
qreply_reset(struct qarena *a)
{
	struct qrblock	*rb;
	size_t		 need = a->ra_used;
	char		*base;

	if (a->ra_more != NULL) {
		while ((rb = a->ra_more) != NULL) {
			a->ra_more = rb->rb_next;
			free(rb);
		}
		if (need > a->ra_size && need <= QREPLY_MAXKEEP &&
		    (base = malloc(need)) != NULL) {
			free(a->ra_base);
			a->ra_base = base;
			a->ra_size = need;
		}
	}
	if (a->ra_base == NULL && (a->ra_base = malloc(QREPLY_BLOCK)) != NULL)
		a->ra_size = QREPLY_BLOCK;
	a->ra_cur = a->ra_base;
	a->ra_left = a->ra_size;
	a->ra_used = 0;
}

/* An object of the reply being read, in its parent's place. */
static redisReply *
qreply_new(const redisReadTask *t, int type)
{
	struct qarena	*a = t->privdata;
	struct qarena	**head;
	redisReply	*r, *parent;

	if (t->parent == NULL) {
		/* A new reply: the last one was handed back. */
		qreply_reset(a);
		if ((head = qreply_alloc(a, sizeof(*head) + sizeof(*r))) ==
		    NULL)
			return NULL;
		*head = a;
		r = (redisReply *)(head + 1);
	} else if ((r = qreply_alloc(a, sizeof(*r))) == NULL)
		return NULL;
	memset(r, 0, sizeof(*r));
	r->type = type;
	if (t->parent != NULL) {
		parent = t->parent->obj;
		parent->element[t->idx] = r;
	}
	return r;
}

static void *
qreply_string(const redisReadTask *t, char *str, size_t len)
{
	redisReply	*r;

	if ((r = qreply_new(t, t->type)) == NULL ||
	    (r->str = qreply_alloc(t->privdata, len + 1)) == NULL)
		return NULL;
	memcpy(r->str, str, len);
	r->str[len] = '\0';
	r->len = len;
	return r;
}

static void *
qreply_array(const redisReadTask *t, int n)
{
	redisReply	*r;

	if ((r = qreply_new(t, REDIS_REPLY_ARRAY)) == NULL)
		return NULL;
	if (n > 0 && (r->element = qreply_alloc(t->privdata,
	    n * sizeof(*r->element))) == NULL)
		return NULL;
	r->elements = n > 0 ? n : 0;
	return r;
}

static void *
qreply_integer(const redisReadTask *t, long long v)
{
	redisReply	*r;

	if ((r = qreply_new(t, REDIS_REPLY_INTEGER)) == NULL)
		return NULL;
	r->integer = v;
	return r;
}

static void *
qreply_nil(const redisReadTask *t)
{
	return qreply_new(t, REDIS_REPLY_NIL);
}

/* hiredis hands back only a reply's root. */
static void
qreply_free(void *p)
{
	struct qarena	**head = (struct qarena **)p - 1;

	qreply_reset(*head);
}

static redisReplyObjectFunctions qreply_fns = {
	.createString = qreply_string,
	.createArray = qreply_array,
	.createInteger = qreply_integer,
	.createNil = qreply_nil,
	.freeObject = qreply_free,
};

/* Replies on ac are made in a. */
void
queue_arena_use(struct qarena *a, redisAsyncContext *ac)
{
	ac->c.reader->fn = &qreply_fns;
	ac->c.reader->privdata = a;
}
