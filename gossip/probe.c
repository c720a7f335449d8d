/*
 * SWIM's failure detector: each probe interval one member, in a shuffled
 * round robin, gets a ping; without an ack by the probe timeout, k others
 * are asked to ping it for us (ping-req) and answer with an ack or, when
 * their own ping goes unanswered, a nack (Lifeguard: a missing nack says
 * more about us than about the target).  No ack by the end of the
 * interval makes the target a suspect.  Both timeouts stretch with the
 * local health score.
 */
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "gossip/internal.h"

static bool
probeable(const struct gossip *g, uint32_t i)
{
	const struct member *m = &g->m[i];

	return i < g->n_slots && m->rec != NULL && i != g->self &&
	       (m->state == GOSSIP_ALIVE || m->state == GOSSIP_SUSPECT);
}

static void
rebuild_order(struct gossip *g)
{
	size_t n = 0;

	if (g->order_cap < g->n_slots) {
		uint32_t *o = realloc(g->order, g->n_slots * sizeof(*o));

		if (o == NULL)
			return;
		g->order = o;
		g->order_cap = g->n_slots;
	}
	for (uint32_t i = 0; i < g->n_slots; i++)
		if (probeable(g, i))
			g->order[n++] = i;
	for (size_t i = n; i > 1; i--) {
		size_t j = gossip_rand_below(g, (uint32_t)i);
		uint32_t t = g->order[i - 1];

		g->order[i - 1] = g->order[j];
		g->order[j] = t;
	}
	g->n_order = n;
	g->order_pos = 0;
}

/* A new member goes to a random place among those not yet probed this
 * round, as memberlist does, so joins do not bunch up at the end. */
void
probe_add_member(struct gossip *g, uint32_t idx)
{
	size_t j;

	if (g->n_order == g->order_cap) {
		size_t ncap = g->order_cap ? g->order_cap * 2 : 16;
		uint32_t *o = realloc(g->order, ncap * sizeof(*o));

		if (o == NULL)
			return;
		g->order = o;
		g->order_cap = ncap;
	}
	j = g->order_pos +
	    gossip_rand_below(g, (uint32_t)(g->n_order - g->order_pos + 1));
	g->order[g->n_order++] = idx;
	if (j < g->n_order - 1) {
		g->order[g->n_order - 1] = g->order[j];
		g->order[j] = idx;
	}
}

static bool
next_target(struct gossip *g, uint32_t *out)
{
	if (g->probe_soon) {
		uint32_t i = g->probe_soon_idx;

		g->probe_soon = false;
		if (probeable(g, i) &&
		    (g->m[i].state == GOSSIP_SUSPECT || g->probe_soon_alive) &&
		    memcmp(member_id(&g->m[i]), g->probe_soon_id,
		           KEY_ID_LEN) == 0) {
			*out = i;
			return true;
		}
	}
	for (int pass = 0; pass < 2; pass++) {
		while (g->order_pos < g->n_order) {
			uint32_t i = g->order[g->order_pos++];

			if (probeable(g, i)) {
				*out = i;
				return true;
			}
		}
		rebuild_order(g);
	}
	return false;
}

static void
send_ping(struct gossip *g, struct member *t, uint32_t seq, bool buddy)
{
	uint8_t tmp[128];
	struct buf b;

	buf_init(&b, tmp, sizeof(tmp));
	/* Buddy system: a suspect hears about it from the next probe it
	 * gets, and can refute at once instead of waiting for gossip.  The
	 * claim goes first, so that the refutation is queued by the time the
	 * ping is answered and rides back on the ack. */
	if (buddy && t->state == GOSSIP_SUSPECT)
		wire_put_claim(&b, WIRE_SUSPECT, member_id(t), t->inc, g->self_id);
	wire_put_ping(&b, WIRE_PING, seq, member_id(t), NULL);
	if (b.err == 0)
		gossip_send(g, t, &t->rec->r->addr, tmp, b.len,
		            buddy && t->state == GOSSIP_SUSPECT ? 2 : 1, true);
}

/*
 * Before a suspicion ends in a death, ask the suspect once more, directly,
 * with the suspicion attached (four pings: at 30% loss a round trip fails
 * half the time).  A live member
 * that missed the suspicion refutes it; one whose refutation we missed
 * (gossip reaches each node with high probability, not certainty) sends
 * its newer record again.  Either rides back on the ack.  Round-robin
 * probing alone could take N probe intervals to get there.  The answer
 * gets one probe timeout, as any ack does; each second waited here is a
 * second more before a crash is known.
 */
/*
 * A suspicion heard from another member: probe the suspect next, with
 * chance suspicion_probers / N, so that about that many members check it
 * within a probe interval.  A dead member then gathers its independent
 * confirmations in one or two intervals instead of one per interval (the
 * round robin brings it about one probe a second, however large N); a
 * live one gets that many buddy pings carrying the suspicion, and
 * refutes sooner.  A fixed expected count, not every member, so that a
 * suspicion costs the cluster a few probes whatever N is.
 */
void
probe_suspect_soon(struct gossip *g, int64_t now, uint32_t idx)
{
	size_t n = gossip_live_count(g);

	/* Not while our own health is in doubt: extra probes from a node
	 * that is itself slow would only confirm its own slowness.  Nor
	 * while we are new: members that do not know us yet cannot answer
	 * our probes, and those failures would confirm a live suspect. */
	if (g->cfg.suspicion_probers == 0 || g->probe_soon || n < 3 ||
	    g->aw.score > 0 || g->joining || g->join_followups > 0 ||
	    now - g->created < 2 * g->cfg.join_grace_ms ||
	    (g->probe.active && g->probe.target == idx))
		return;
	if (gossip_rand_below(g, (uint32_t)(n - 1)) >= g->cfg.suspicion_probers)
		return;
	g->probe_soon = true;
	g->probe_soon_alive = false;
	g->probe_soon_idx = idx;
	memcpy(g->probe_soon_id, member_id(&g->m[idx]), KEY_ID_LEN);
	/* A probe already answered waits only to pace the round robin: the
	 * suspect goes now, still one probe in flight at a time. */
	if (!g->probe.active || g->probe.acked) {
		g->probe.active = false;
		if (g->next_probe > now)
			g->next_probe = now;
	}
}

void
probe_last_chance(struct gossip *g, struct member *m)
{
	for (int i = 0; i < 4; i++)
		send_ping(g, m, ++g->seq, true);
}

int64_t
suspicion_ask_at(const struct gossip *g, const struct suspicion *s)
{
	return s->deadline - awareness_scale(&g->aw, g->cfg.probe_timeout_ms);
}

static void
start_probe(struct gossip *g, int64_t now)
{
	uint32_t i;
	struct member *t;

	if (!next_target(g, &i)) {
		g->next_probe = now + g->cfg.probe_interval_ms;
		return;
	}
	t = &g->m[i];
	memset(&g->probe, 0, sizeof(g->probe));
	g->probe.active = true;
	g->probe.target = i;
	memcpy(g->probe.target_id, member_id(t), KEY_ID_LEN);
	g->probe.seq = ++g->seq;
	g->probe.start = now;
	g->probe.ack_deadline = now + awareness_scale(&g->aw,
	                                              g->cfg.probe_timeout_ms);
	g->probe.end = now + awareness_scale(&g->aw, g->cfg.probe_interval_ms);
	g->next_probe = g->probe.end;
	g->stats.probes++;
	send_ping(g, t, g->probe.seq, true);
}

static struct member *
probe_member(struct gossip *g)
{
	struct member *t = &g->m[g->probe.target];

	if (g->probe.target >= g->n_slots || t->rec == NULL ||
	    memcmp(member_id(t), g->probe.target_id, KEY_ID_LEN) != 0)
		return NULL;
	return t;
}

static void
send_indirect(struct gossip *g, struct member *t)
{
	unsigned want = g->cfg.indirect_checks, sent = 0;
	uint32_t tries = 0, picked[16];
	uint8_t tmp[128];
	struct buf b;

	if (want > 16)
		want = 16;
	buf_init(&b, tmp, sizeof(tmp));
	wire_put_ping(&b, WIRE_PING_REQ, g->probe.seq, member_id(t),
	              &t->rec->r->addr);
	if (b.err)
		return;
	while (sent < want && tries++ < 8 * want + 8 && g->n_slots > 2) {
		uint32_t i = gossip_rand_below(g, g->n_slots);
		bool dup = false;

		if (i == g->probe.target || g->m[i].rec == NULL || i == g->self ||
		    g->m[i].state != GOSSIP_ALIVE)
			continue;
		for (unsigned j = 0; j < sent; j++)
			dup |= picked[j] == i;
		if (dup)
			continue;
		picked[sent++] = i;
		gossip_send(g, &g->m[i], &g->m[i].rec->r->addr, tmp, b.len, 1,
		            true);
	}
	g->probe.nacks_expected = sent;
	g->probe.indirect_sent = true;
	/*
	 * And once more directly, in place of memberlist's TCP fallback
	 * ping: one lost packet of the first exchange should not be enough
	 * to start a suspicion that costs the whole cluster a refutation.
	 */
	send_ping(g, t, g->probe.seq, false);
	if (sent)
		g->stats.indirect_probes++;
}

static void
finish_probe(struct gossip *g, int64_t now)
{
	struct member *t = probe_member(g);
	int delta = 0;

	g->probe.active = false;
	if (g->probe.acked)
		return;
	g->stats.probe_fails++;
	if (g->probe.nacks_expected > 0) {
		if (g->probe.nacks < g->probe.nacks_expected)
			delta = (int)(g->probe.nacks_expected - g->probe.nacks);
	} else {
		delta = 1;
	}
	awareness_apply(&g->aw, delta);
	if (t == NULL)
		return;
	/*
	 * A node that has just joined may not be known yet to the member it
	 * probed, which then cannot open its packets: that proves nothing
	 * about the member, so a new node does not suspect anyone during its
	 * grace period (the member learns our key from the pull our packet
	 * triggered).
	 */
	if (now - g->created < g->cfg.join_grace_ms)
		return;
	member_on_suspect(g, now, member_id(t), t->inc, g->self_id);
}

/* Ends a relayed probe: the requester hears our target's ack, or a nack
 * when our ping got no answer (memberlist's: it tells the requester its
 * own link to us works). */
static void
answer_requester(struct gossip *g, struct indirect *p, uint8_t type)
{
	struct member *o;
	uint8_t tmp[16];
	struct buf b;

	p->used = false;
	o = member_find(g, p->orig_id);
	if (o == NULL)
		return;
	buf_init(&b, tmp, sizeof(tmp));
	wire_put_ack(&b, type, p->orig_seq);
	if (b.err == 0)
		gossip_send(g, o, &p->orig_addr, tmp, b.len, 1, false);
}

static void
indirect_tick(struct gossip *g, int64_t now)
{
	for (size_t i = 0; i < GOSSIP_MAX_PENDING_INDIRECT; i++)
		if (g->pend[i].used && g->pend[i].deadline <= now)
			answer_requester(g, &g->pend[i], WIRE_NACK);
}

/* Refused, and every member we asked has said it got no answer either:
 * waiting out the probe interval would only delay the suspicion. */
static void
maybe_finish_refused(struct gossip *g, int64_t now)
{
	if (g->probe.active && !g->probe.acked && g->probe.refused &&
	    g->probe.indirect_sent &&
	    g->probe.nacks >= g->probe.nacks_expected)
		finish_probe(g, now);
}

/*
 * The host of `to` answered a packet of ours with ICMP port unreachable:
 * no process listens there, the mark of a crashed agent on a live host.
 * It shortens what the protocol does anyway, never replaces it: our probe
 * of that member goes indirect at once and ends when every helper has
 * nacked (each of them got its own refusal), a helper's ping for someone
 * else is nacked at once, and an address we were not probing is probed
 * next.  A suspicion still needs its confirmations and its time, and a
 * live member still refutes, so a forged ICMP message can hasten a probe
 * but not kill anyone.
 */
void
probe_on_refused(struct gossip *g, int64_t now, const struct gossip_addr *to)
{
	bool ours = false;

	for (size_t i = 0; i < GOSSIP_MAX_PENDING_INDIRECT; i++)
		if (g->pend[i].used &&
		    gossip_addr_eq(&g->pend[i].target_addr, to))
			answer_requester(g, &g->pend[i], WIRE_NACK);
	if (g->probe.active && !g->probe.acked) {
		struct member *t = probe_member(g);

		if (t != NULL && gossip_addr_eq(&t->rec->r->addr, to)) {
			ours = true;
			g->probe.refused = true;
			if (!g->probe.indirect_sent)
				send_indirect(g, t);
			maybe_finish_refused(g, now);
		}
	}
	/* The scan is paced too: a dead member's address draws refusals
	 * for as long as we gossip to it. */
	if (ours || g->probe_soon || g->leaving ||
	    now - g->last_refusal_hint < g->cfg.probe_timeout_ms)
		return;
	g->last_refusal_hint = now;
	for (uint32_t i = 0; i < g->n_slots; i++) {
		struct member *m = &g->m[i];

		if (m->rec == NULL || i == g->self || !probeable(g, i) ||
		    !gossip_addr_eq(&m->rec->r->addr, to))
			continue;
		g->probe_soon = true;
		g->probe_soon_alive = true;
		g->probe_soon_idx = i;
		memcpy(g->probe_soon_id, member_id(m), KEY_ID_LEN);
		if (!g->probe.active || g->probe.acked) {
			g->probe.active = false;
			if (g->next_probe > now)
				g->next_probe = now;
		}
		return;
	}
}

void
probe_tick(struct gossip *g, int64_t now)
{
	indirect_tick(g, now);
	if (g->probe.active) {
		struct member *t = probe_member(g);

		if (!g->probe.indirect_sent && now >= g->probe.ack_deadline) {
			if (t != NULL)
				send_indirect(g, t);
			else
				g->probe.indirect_sent = true;
		}
		if (now >= g->probe.end)
			finish_probe(g, now);
	}
	if (!g->probe.active && now >= g->next_probe && !g->leaving)
		start_probe(g, now);
}

int64_t
probe_deadline(const struct gossip *g)
{
	int64_t d = g->leaving ? INT64_MAX : g->next_probe;

	if (g->probe.active) {
		if (!g->probe.indirect_sent && g->probe.ack_deadline < d)
			d = g->probe.ack_deadline;
		if (g->probe.end < d)
			d = g->probe.end;
	}
	for (size_t i = 0; i < GOSSIP_MAX_PENDING_INDIRECT; i++)
		if (g->pend[i].used && g->pend[i].deadline < d)
			d = g->pend[i].deadline;
	return d;
}

void
probe_on_ping(struct gossip *g, int64_t now, const struct gossip_addr *from,
              const struct member *sender, const struct wire_msg *m)
{
	uint8_t tmp[16];
	struct buf b;

	(void)now;
	/* A ping for someone else: our address was reused; stay silent. */
	if (memcmp(m->id, g->self_id, KEY_ID_LEN) != 0)
		return;
	buf_init(&b, tmp, sizeof(tmp));
	wire_put_ack(&b, WIRE_ACK, m->seq);
	if (b.err == 0)
		gossip_send(g, sender, from, tmp, b.len, 1, true);
}

void
probe_on_ping_req(struct gossip *g, int64_t now,
                  const struct gossip_addr *from, const struct member *sender,
                  const struct wire_msg *m)
{
	struct member *t = member_find(g, m->id);
	struct indirect *p = NULL;
	uint8_t tmp[64];
	struct buf b;

	if (t == NULL || member_index(g, t) == g->self)
		return;
	for (size_t i = 0; i < GOSSIP_MAX_PENDING_INDIRECT; i++)
		if (!g->pend[i].used) {
			p = &g->pend[i];
			break;
		}
	if (p == NULL)
		return; /* at capacity: the requester counts a missing nack */
	p->used = true;
	p->seq = ++g->seq;
	p->orig_seq = m->seq;
	memcpy(p->orig_id, member_id(sender), KEY_ID_LEN);
	p->orig_addr = *from;
	p->target_addr = m->addr;
	p->deadline = now + g->cfg.probe_timeout_ms;
	buf_init(&b, tmp, sizeof(tmp));
	wire_put_ping(&b, WIRE_PING, p->seq, m->id, NULL);
	if (b.err == 0)
		gossip_send(g, t, &m->addr, tmp, b.len, 1, false);
}

void
probe_on_ack(struct gossip *g, int64_t now, const struct wire_msg *m)
{
	if (g->probe.active && m->seq == g->probe.seq) {
		if (!g->probe.acked) {
			g->probe.acked = true;
			awareness_apply(&g->aw, -1);
			/* Only acks to our own ping measure the link; an
			 * indirect one came the long way round. */
			if (!g->probe.indirect_sent)
				gossip_note_rtt(g, now - g->probe.start);
		}
		g->probe.active = false;
		return;
	}
	for (size_t i = 0; i < GOSSIP_MAX_PENDING_INDIRECT; i++) {
		struct indirect *p = &g->pend[i];

		if (p->used && p->seq == m->seq) {
			answer_requester(g, p, WIRE_ACK);
			return;
		}
	}
}

void
probe_on_nack(struct gossip *g, int64_t now, const struct wire_msg *m)
{
	if (g->probe.active && m->seq == g->probe.seq) {
		g->probe.nacks++;
		maybe_finish_refused(g, now);
	}
}
