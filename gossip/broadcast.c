/*
 * The piggyback queue (SWIM's dissemination component).  Each update is
 * sent about retransmit_mult x ceil(log10(N + 1)) times, on probes, acks
 * and gossip packets alike.  Messages wait in tiers by how often they were
 * sent, so the least-sent go first, and inside a tier the newest first;
 * a newer message about the same member or object replaces the older one
 * wherever it is, so stale news is never sent after fresh.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

/* How many queued messages one fill looks at, so a long queue costs the
 * same per packet as a short one. */
#define BCAST_SCAN_MAX 512

int
bqueue_init(struct bqueue *q, size_t cap)
{
	memset(q, 0, sizeof(*q));
	for (size_t i = 0; i < BCAST_MAX_TIERS; i++)
		list_init(&q->tiers[i]);
	q->cap = cap ? cap : 1;
	q->tcap = 16;
	while (q->tcap < 2 * q->cap)
		q->tcap *= 2;
	q->tab = calloc(q->tcap, sizeof(*q->tab));
	return q->tab ? 0 : WEFT_ENOMEM;
}

static void
unhash(struct bqueue *q, struct bcast *b)
{
	struct bcast **pp = &q->tab[b->key & (q->tcap - 1)];

	while (*pp != b)
		pp = &(*pp)->next;
	*pp = b->next;
}

static void
drop(struct bqueue *q, struct bcast *b)
{
	unhash(q, b);
	list_remove(&b->link);
	q->count--;
	free(b);
}

void
bqueue_fini(struct bqueue *q)
{
	for (size_t i = 0; i < BCAST_MAX_TIERS; i++) {
		struct list *pos, *tmp;

		list_foreach_safe(pos, tmp, &q->tiers[i])
			free(list_entry(pos, struct bcast, link));
	}
	free(q->tab);
	q->tab = NULL;
}

int
bqueue_put(struct bqueue *q, uint64_t key, const uint8_t *msg, size_t len)
{
	struct bcast *b, *old;

	for (old = q->tab[key & (q->tcap - 1)]; old; old = old->next)
		if (old->key == key)
			break;
	if (old != NULL)
		drop(q, old);
	if (q->count >= q->cap) {
		/* Full: the message sent most often has done the most good. */
		for (size_t i = BCAST_MAX_TIERS; i-- > 0;)
			if (!list_empty(&q->tiers[i])) {
				drop(q, list_entry(q->tiers[i].prev, struct bcast,
				                   link));
				q->dropped++;
				break;
			}
	}
	b = malloc(sizeof(*b) + len);
	if (b == NULL)
		return WEFT_ENOMEM;
	b->key = key;
	b->transmits = 0;
	b->seq = ++q->seq;
	b->len = len;
	memcpy(b->msg, msg, len);
	b->next = q->tab[key & (q->tcap - 1)];
	q->tab[key & (q->tcap - 1)] = b;
	list_insert_head(&q->tiers[0], &b->link);
	q->count++;
	return 0;
}

size_t
bqueue_fill(struct bqueue *q, uint8_t *out, size_t budget, size_t *used,
            unsigned limit, size_t max_msgs)
{
	struct bcast *picked[WIRE_MAX_MSGS];
	size_t n = 0, scanned = 0;

	if (limit > BCAST_MAX_TIERS)
		limit = BCAST_MAX_TIERS;
	if (limit == 0)
		limit = 1;
	if (max_msgs > WIRE_MAX_MSGS)
		max_msgs = WIRE_MAX_MSGS;
	/* The limit shrinks when the cluster does: retire what is over it. */
	for (size_t t = limit; t < BCAST_MAX_TIERS; t++) {
		struct list *pos, *tmp;

		list_foreach_safe(pos, tmp, &q->tiers[t])
			drop(q, list_entry(pos, struct bcast, link));
	}
	for (size_t t = 0; t < limit && n < max_msgs; t++) {
		struct list *pos;

		list_foreach(pos, &q->tiers[t]) {
			struct bcast *b = list_entry(pos, struct bcast, link);

			if (++scanned > BCAST_SCAN_MAX || n >= max_msgs)
				break;
			if (b->len > budget - *used)
				continue;
			memcpy(out + *used, b->msg, b->len);
			*used += b->len;
			picked[n++] = b;
		}
		if (scanned > BCAST_SCAN_MAX)
			break;
	}
	for (size_t i = 0; i < n; i++) {
		struct bcast *b = picked[i];

		b->transmits++;
		list_remove(&b->link);
		if (b->transmits >= limit) {
			unhash(q, b);
			q->count--;
			free(b);
		} else {
			list_insert_head(&q->tiers[b->transmits], &b->link);
		}
	}
	return n;
}
