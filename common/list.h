/* One intrusive doubly linked list for every part. */
#ifndef WEFT_COMMON_LIST_H
#define WEFT_COMMON_LIST_H

#include <stddef.h>

struct list {
	struct list *prev;
	struct list *next;
};

#define list_entry(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

#define list_foreach(pos, head) \
	for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* Safe against removal of pos inside the loop. */
#define list_foreach_safe(pos, tmp, head) \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); \
	     (pos) = (tmp), (tmp) = (pos)->next)

static inline void
list_init(struct list *h)
{
	h->prev = h;
	h->next = h;
}

static inline int
list_empty(const struct list *h)
{
	return h->next == h;
}

static inline void
list_insert_tail(struct list *h, struct list *n)
{
	n->next = h;
	n->prev = h->prev;
	h->prev->next = n;
	h->prev = n;
}

static inline void
list_insert_head(struct list *h, struct list *n)
{
	n->prev = h;
	n->next = h->next;
	h->next->prev = n;
	h->next = n;
}

static inline void
list_remove(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n;
	n->next = n;
}

#endif
