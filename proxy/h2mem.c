#include "proxy/h2mem.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every block starts with this header, padded to max_align_t so the
 * caller's bytes keep malloc's alignment.  A free block's first bytes
 * after it link the free list.
 */
struct h2mem_block {
	union {
		struct {
			size_t size;  /* usable bytes */
			unsigned cls; /* H2MEM_N_CLASSES: not pooled */
		} h;
		max_align_t align;
	} u;
};

struct h2mem_free {
	struct h2mem_block *next;
};

#define HDR sizeof(struct h2mem_block)

/* The smallest class whose blocks hold size bytes; H2MEM_N_CLASSES when
 * none does.  Called on every allocation: a bit scan, not a loop. */
static unsigned
class_of(size_t size)
{
	if (size <= H2MEM_MIN_CLASS)
		return 0;
	if (size > H2MEM_MAX_CLASS)
		return H2MEM_N_CLASSES;
	/* Bits of size - 1, less those of H2MEM_MIN_CLASS - 1. */
	return (unsigned)(__builtin_clzll(H2MEM_MIN_CLASS - 1) -
	    __builtin_clzll((unsigned long long)size - 1));
}

static size_t
class_size(unsigned cls)
{
	return (size_t)H2MEM_MIN_CLASS << cls;
}

static void *
payload(struct h2mem_block *b)
{
	return (uint8_t *)b + HDR;
}

static struct h2mem_block *
block_of(void *p)
{
	return (struct h2mem_block *)(void *)((uint8_t *)p - HDR);
}

void
h2mem_init(struct h2mem *m, size_t cache_bytes)
{
	memset(m, 0, sizeof(*m));
	m->cache_bytes = cache_bytes != 0 ? cache_bytes : H2MEM_CACHE_BYTES;
}

void
h2mem_clear(struct h2mem *m)
{
	for (unsigned i = 0; i < H2MEM_N_CLASSES; i++) {
		while (m->free[i] != NULL) {
			struct h2mem_block *b = m->free[i];
			struct h2mem_free *f = payload(b);

			m->free[i] = f->next;
			free(b);
		}
	}
	m->cached = 0;
}

void *
h2mem_malloc(struct h2mem *m, size_t size)
{
	unsigned cls = class_of(size);
	struct h2mem_block *b;
	size_t cap;

	if (size > SIZE_MAX - HDR)
		return NULL;
	if (cls < H2MEM_N_CLASSES && m->free[cls] != NULL) {
		b = m->free[cls];
		m->free[cls] = ((struct h2mem_free *)payload(b))->next;
		m->cached -= HDR + class_size(cls);
		m->reused++;
		return payload(b);
	}
	/* A pooled block is made its class's full size so any later request
	 * of the class fits it. */
	cap = cls < H2MEM_N_CLASSES ? class_size(cls) : size;
	if (cap < sizeof(struct h2mem_free))
		cap = sizeof(struct h2mem_free);
	if ((b = malloc(HDR + cap)) == NULL)
		return NULL;
	b->u.h.size = cap;
	b->u.h.cls = cls;
	m->fresh++;
	return payload(b);
}

void *
h2mem_calloc(struct h2mem *m, size_t nmemb, size_t size)
{
	void *p;

	if (size != 0 && nmemb > SIZE_MAX / size)
		return NULL;
	if ((p = h2mem_malloc(m, nmemb * size)) != NULL)
		memset(p, 0, nmemb * size);
	return p;
}

void
h2mem_release(struct h2mem *m, void *p)
{
	struct h2mem_block *b;
	unsigned cls;

	if (p == NULL)
		return;
	b = block_of(p);
	cls = b->u.h.cls;
	if (cls >= H2MEM_N_CLASSES ||
	    m->cached + HDR + class_size(cls) > m->cache_bytes) {
		free(b);
		return;
	}
	((struct h2mem_free *)p)->next = m->free[cls];
	m->free[cls] = b;
	m->cached += HDR + class_size(cls);
}

void *
h2mem_realloc(struct h2mem *m, void *p, size_t size)
{
	struct h2mem_block *b;
	void *np;

	if (p == NULL)
		return h2mem_malloc(m, size);
	if (size == 0) {
		h2mem_release(m, p);
		return NULL;
	}
	b = block_of(p);
	if (size <= b->u.h.size)
		return p;
	if ((np = h2mem_malloc(m, size)) == NULL)
		return NULL;
	memcpy(np, p, b->u.h.size);
	h2mem_release(m, p);
	return np;
}

static void *
mem_malloc(size_t size, void *ud)
{
	return h2mem_malloc(ud, size);
}

static void
mem_free(void *p, void *ud)
{
	h2mem_release(ud, p);
}

static void *
mem_calloc(size_t nmemb, size_t size, void *ud)
{
	return h2mem_calloc(ud, nmemb, size);
}

static void *
mem_realloc(void *p, size_t size, void *ud)
{
	return h2mem_realloc(ud, p, size);
}

void
h2mem_mem(struct h2mem *m, nghttp2_mem *out)
{
	out->mem_user_data = m;
	out->malloc = mem_malloc;
	out->free = mem_free;
	out->calloc = mem_calloc;
	out->realloc = mem_realloc;
}
