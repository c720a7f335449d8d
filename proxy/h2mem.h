/*
 * A per-session allocator for nghttp2: blocks freed by the session are kept
 * on free lists by size class and handed back to its next allocation, so a
 * warm connection opens and closes streams without calling malloc (nghttp2
 * allocates its stream, header and outbound-item records per stream).
 *
 * Bounded: at most cache_bytes (block sizes, headers included) wait on the
 * free lists; beyond that, and for blocks over H2MEM_MAX_CLASS bytes, it
 * is plain malloc and free.  Single-threaded, like the session it serves.
 *
 * The pool is the caller's (embed it); h2mem_mem() fills the nghttp2_mem
 * handed to nghttp2_session_{client,server}_new3(), which copies it.  The
 * session must be deleted before h2mem_clear().
 */
#ifndef WEFT_PROXY_H2MEM_H
#define WEFT_PROXY_H2MEM_H

#include <nghttp2/nghttp2.h>
#include <stddef.h>
#include <stdint.h>

#define H2MEM_MIN_CLASS 32u    /* the smallest block, a power of two */
#define H2MEM_MAX_CLASS 4096u  /* larger requests are not pooled */
#define H2MEM_N_CLASSES 8      /* 32, 64, ... 4096 */
#define H2MEM_CACHE_BYTES (64u * 1024)

struct h2mem_block;

struct h2mem {
	struct h2mem_block *free[H2MEM_N_CLASSES];
	size_t cached;        /* bytes on the free lists */
	size_t cache_bytes;   /* their bound */
	/* Counters (tests, benchmarks): blocks taken from malloc, and
	 * allocations served from a free list. */
	uint64_t fresh;
	uint64_t reused;
};

/* cache_bytes 0: H2MEM_CACHE_BYTES. */
void h2mem_init(struct h2mem *m, size_t cache_bytes);
/* Frees the cached blocks; blocks still held by a session are its. */
void h2mem_clear(struct h2mem *m);
/* The allocator to give nghttp2, bound to m. */
void h2mem_mem(struct h2mem *m, nghttp2_mem *out);

void *h2mem_malloc(struct h2mem *m, size_t size);
void *h2mem_calloc(struct h2mem *m, size_t nmemb, size_t size);
void *h2mem_realloc(struct h2mem *m, void *p, size_t size);
void h2mem_release(struct h2mem *m, void *p);

#endif
