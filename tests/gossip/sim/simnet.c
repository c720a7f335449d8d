#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "crypto/cert.h"
#include "simnet.h"

enum simev_kind { EV_TIMER, EV_PACKET, EV_STREAM, EV_RESUME, EV_REFUSED };

struct simev {
	int64_t t;
	uint64_t seq;
	uint32_t node;
	uint32_t from;
	uint8_t kind;
	uint64_t gen;
	uint8_t *data;
	size_t len;
};

struct simnode {
	struct simnet *net;
	size_t index;
	struct gossip *g;
	struct gossip_addr addr;
	bool up;
	int64_t paused_until; /* relative ms; 0 when running */
	uint64_t timer_gen;
	int64_t timer_at;
	int group;
	uint64_t rng_state;
	struct weft_rng rng;
	struct gossip_crypto crypto;
	struct testcrypto_ctx tctx;
	struct gossip_crypto_real_ctx rctx;
	struct key_pair key;
	uint8_t *cert;
	size_t cert_len;
	char name[32];
	uint64_t bytes_out, pkts_out;
	struct simev *inbox;
	size_t inbox_n, inbox_cap;
};

static uint64_t
splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int
rng_fill(void *ctx, void *out, size_t n)
{
	uint8_t *p = out;

	while (n > 0) {
		uint64_t v = splitmix(ctx);
		size_t k = n < 8 ? n : 8;

		memcpy(p, &v, k);
		p += k;
		n -= k;
	}
	return 0;
}

uint64_t
simnet_rand(struct simnet *s)
{
	return splitmix(&s->rng);
}

static double
rand_unit(struct simnet *s)
{
	return (double)(simnet_rand(s) >> 11) / 9007199254740992.0;
}

/* --- the event heap, ordered by (t, seq) so runs are deterministic --- */

static bool
ev_less(const struct simev *a, const struct simev *b)
{
	return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void
heap_push(struct simnet *s, struct simev ev)
{
	size_t i;

	if (s->heap_n == s->heap_cap) {
		size_t ncap = s->heap_cap ? s->heap_cap * 2 : 1024;
		struct simev *h = realloc(s->heap, ncap * sizeof(*h));

		if (h == NULL)
			abort();
		s->heap = h;
		s->heap_cap = ncap;
	}
	ev.seq = ++s->seq;
	i = s->heap_n++;
	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!ev_less(&ev, &s->heap[p]))
			break;
		s->heap[i] = s->heap[p];
		i = p;
	}
	s->heap[i] = ev;
}

static struct simev
heap_pop(struct simnet *s)
{
	struct simev top = s->heap[0], last = s->heap[--s->heap_n];
	size_t i = 0;

	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct simev *best = &last;

		if (l < s->heap_n && ev_less(&s->heap[l], best)) {
			m = l;
			best = &s->heap[l];
		}
		if (r < s->heap_n && ev_less(&s->heap[r], best))
			m = r;
		if (m == i)
			break;
		s->heap[i] = s->heap[m];
		i = m;
	}
	if (s->heap_n > 0)
		s->heap[i] = last;
	return top;
}

/* --- addresses --- */

static struct gossip_addr
addr_of(size_t i)
{
	struct gossip_addr a;

	memset(&a, 0, sizeof(a));
	a.family = 4;
	a.ip[0] = 10;
	a.ip[1] = (uint8_t)(i >> 16);
	a.ip[2] = (uint8_t)(i >> 8);
	a.ip[3] = (uint8_t)i;
	a.port = 7370;
	return a;
}

static size_t
index_of(const struct simnet *s, const struct gossip_addr *a)
{
	size_t i;

	if (a->family != 4 || a->ip[0] != 10 || a->port != 7370)
		return SIZE_MAX;
	i = (size_t)a->ip[1] << 16 | (size_t)a->ip[2] << 8 | a->ip[3];
	return i < s->n ? i : SIZE_MAX;
}

/* --- plumbing --- */

static void
on_event(void *ctx, const struct gossip_event *ev)
{
	struct simnode *n = ctx;

	if (n->net->cfg.on_event)
		n->net->cfg.on_event(n->net->cfg.ev_ctx, n->index, n->net->now, ev);
}

static int64_t
abs_now(const struct simnet *s)
{
	return SIMNET_T0 + s->now;
}

static int64_t
delay(struct simnet *s)
{
	int64_t span = s->cfg.delay_max_ms - s->cfg.delay_min_ms;

	return s->cfg.delay_min_ms +
	       (span > 0 ? (int64_t)(simnet_rand(s) % (uint64_t)(span + 1)) : 0);
}

static bool
cut(const struct simnet *s, size_t a, size_t b)
{
	return s->partitioned && s->nodes[a].group != s->nodes[b].group;
}

static void
schedule(struct simnet *s, struct simnode *n)
{
	int64_t d;
	struct simev ev;

	if (!n->up || n->paused_until)
		return;
	d = gossip_next_deadline(n->g) - SIMNET_T0;
	if (d <= s->now)
		d = s->now + 1;
	if (d == n->timer_at)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.t = d;
	ev.kind = EV_TIMER;
	ev.node = (uint32_t)n->index;
	ev.gen = ++n->timer_gen;
	n->timer_at = d;
	heap_push(s, ev);
}

/* Moves what node n wants to send onto the network. */
static void
flush(struct simnet *s, struct simnode *n)
{
	struct gossip_packet p;
	struct gossip_stream_msg m;

	if (!n->up)
		return;
	while (gossip_pop_packet(n->g, &p)) {
		size_t to = index_of(s, &p.to);
		struct simev ev;

		n->bytes_out += p.len;
		n->pkts_out++;
		if (s->cfg.tap)
			s->cfg.tap(s->cfg.tap_ctx, p.data, p.len, false);
		if (to == SIZE_MAX || cut(s, n->index, to)) {
			s->cut++;
			free(p.data);
			continue;
		}
		if (s->cfg.loss > 0 && rand_unit(s) < s->cfg.loss) {
			s->lost++;
			free(p.data);
			continue;
		}
		memset(&ev, 0, sizeof(ev));
		ev.t = s->now + delay(s);
		ev.kind = EV_PACKET;
		ev.node = (uint32_t)to;
		ev.from = (uint32_t)n->index;
		ev.data = p.data;
		ev.len = p.len;
		heap_push(s, ev);
	}
	while (gossip_pop_stream(n->g, &m)) {
		size_t to = index_of(s, &m.to);
		struct simev ev;

		n->bytes_out += m.len;
		n->pkts_out += 1 + m.len / 1400;
		if (s->cfg.tap)
			s->cfg.tap(s->cfg.tap_ctx, m.data, m.len, true);
		if (to == SIZE_MAX ||
		    (cut(s, n->index, to) && !s->streams_cross)) {
			s->cut++;
			free(m.data);
			continue;
		}
		/* A stream is reliable: a connect, a round trip or two, and
		 * the bytes (at about 100 MB/s). */
		memset(&ev, 0, sizeof(ev));
		ev.t = s->now + 3 * delay(s) + (int64_t)(m.len / 100000);
		ev.kind = EV_STREAM;
		ev.node = (uint32_t)to;
		ev.from = (uint32_t)n->index;
		ev.data = m.data;
		ev.len = m.len;
		heap_push(s, ev);
	}
	schedule(s, n);
}

static void
deliver(struct simnet *s, struct simnode *n, const struct simev *ev)
{
	struct gossip_addr from = addr_of(ev->from);

	if (ev->kind == EV_PACKET) {
		s->delivered++;
		gossip_recv_packet(n->g, abs_now(s), &from, ev->data, ev->len);
	} else {
		gossip_recv_stream(n->g, abs_now(s), &from, ev->data, ev->len);
	}
	flush(s, n);
}

static int build_index(struct simnet *s);

/* --- lifecycle --- */

int
simnet_new(struct simnet **out, const struct simnet_config *cfg)
{
	struct simnet *s = calloc(1, sizeof(*s));
	int rc = 0;

	if (s == NULL)
		return WEFT_ENOMEM;
	s->cfg = *cfg;
	s->n = cfg->nodes;
	s->rng = cfg->seed ^ 0x5eed;
	s->nodes = calloc(s->n, sizeof(*s->nodes));
	if (s->nodes == NULL) {
		free(s);
		return WEFT_ENOMEM;
	}
	if (cfg->share_store) {
		rc = gossip_store_new(&s->store);
		if (rc)
			goto fail;
	}
	if (cfg->real_crypto) {
		struct weft_rng r = { rng_fill, &s->rng };
		struct cert_params cp;
		struct cert ca;

		memset(&cp, 0, sizeof(cp));
		cp.is_ca = true;
		cp.name = "sim-ca";
		cp.not_before = SIMNET_T0 / 1000 - 86400;
		cp.not_after = SIMNET_T0 / 1000 + 10 * 365 * 86400ll;
		rc = key_generate(&s->ca, KEY_KIND_CA, &r);
		if (rc == 0)
			rc = cert_issue(&cp, &s->ca, &s->ca, &s->ca_cert,
			                &s->ca_cert_len);
		if (rc == 0)
			rc = cert_decode(s->ca_cert, s->ca_cert_len, &ca);
		if (rc == 0) {
			rc = bundle_add(&s->bundle, &ca);
			if (rc)
				cert_free(&ca);
		}
		if (rc)
			goto fail;
	}
	for (size_t i = 0; i < s->n; i++) {
		struct simnode *n = &s->nodes[i];

		n->net = s;
		n->index = i;
		n->addr = addr_of(i);
		n->rng_state = cfg->seed * 0x9e3779b97f4a7c15ull + i + 1;
		n->rng.fill = rng_fill;
		n->rng.ctx = &n->rng_state;
		snprintf(n->name, sizeof(n->name), "n%zu", i);
		if (cfg->real_crypto) {
			static const char *svc[] = { "web", "api" };
			static const char *grp_op[] = { "prod", "operator" };
			struct cert_params cp;

			memset(&cp, 0, sizeof(cp));
			cp.name = n->name;
			cp.services = svc;
			cp.n_services = 2;
			cp.groups = grp_op;
			cp.n_groups = i < cfg->operators ? 2 : 1;
			cp.not_before = SIMNET_T0 / 1000 - 86400;
			cp.not_after = SIMNET_T0 / 1000 + 365 * 86400ll;
			rc = key_generate(&n->key, KEY_KIND_NODE, &n->rng);
			if (rc == 0)
				rc = cert_issue(&cp, &n->key, &s->ca, &n->cert,
				                &n->cert_len);
			if (rc)
				goto fail;
			n->rctx.key = &n->key;
			n->rctx.bundle = &s->bundle;
			n->rctx.skew_s = 300;
			gossip_crypto_real(&n->crypto, &n->rctx);
		} else {
			testcrypto_identity(&n->tctx, i + 1);
			n->cert = malloc(TESTCRYPTO_CERT_LEN);
			if (n->cert == NULL) {
				rc = WEFT_ENOMEM;
				goto fail;
			}
			n->cert_len = TESTCRYPTO_CERT_LEN;
			testcrypto_cert(&n->tctx, i < cfg->operators,
			                SIMNET_T0 / 1000 - 86400,
			                SIMNET_T0 / 1000 + 365 * 86400ll, n->cert);
			testcrypto_provider(&n->crypto, &n->tctx);
		}
	}
	rc = build_index(s);
	if (rc)
		goto fail;
	*out = s;
	return 0;
fail:
	simnet_free(s);
	return rc;
}

static void
drop_node(struct simnode *n)
{
	gossip_free(n->g);
	n->g = NULL;
	n->up = false;
	n->paused_until = 0;
	n->timer_gen++;
	n->timer_at = -1;
	for (size_t i = 0; i < n->inbox_n; i++)
		free(n->inbox[i].data);
	n->inbox_n = 0;
}

void
simnet_free(struct simnet *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n; i++) {
		drop_node(&s->nodes[i]);
		free(s->nodes[i].inbox);
		free(s->nodes[i].cert);
		key_wipe(&s->nodes[i].key);
	}
	for (size_t i = 0; i < s->heap_n; i++)
		free(s->heap[i].data);
	free(s->heap);
	free(s->nodes);
	free(s->ids);
	if (s->cfg.real_crypto) {
		bundle_free(&s->bundle);
		free(s->ca_cert);
		key_wipe(&s->ca);
	}
	gossip_store_free(s->store);
	free(s);
}

int
simnet_start(struct simnet *s, size_t i)
{
	struct simnode *n = &s->nodes[i];
	static const char *tags[] = { "sim=1" };
	struct gossip_service svc;
	struct gossip_identity id;
	struct gossip_callbacks cb = { on_event, n };
	struct gossip_config gc = s->cfg.gossip;
	int rc;

	if (n->up)
		return WEFT_ESTATE;
	memset(&svc, 0, sizeof(svc));
	svc.name = "web";
	svc.port = 8080;
	svc.weight = 100;
	svc.health = 1;
	memset(&id, 0, sizeof(id));
	id.name = n->name;
	id.addr = n->addr;
	id.mesh_addr = n->addr;
	id.mesh_addr.port = 7371;
	id.services = &svc;
	id.n_services = 1;
	id.tags = tags;
	id.n_tags = 1;
	id.cert = n->cert;
	id.cert_len = n->cert_len;
	gc.store = s->store;
	rc = gossip_new(&n->g, &gc, &id, &n->crypto, &n->rng, &cb, abs_now(s));
	if (rc)
		return rc;
	n->up = true;
	n->timer_at = -1;
	flush(s, n);
	return 0;
}

int
simnet_bootstrap(struct simnet *s, size_t count)
{
	struct gossip *g0;
	uint8_t *st;
	size_t len;
	int rc;

	for (size_t i = 0; i < count; i++)
		if (!s->nodes[i].up && (rc = simnet_start(s, i)) != 0)
			return rc;
	g0 = s->nodes[0].g;
	for (size_t i = 1; i < count; i++) {
		rc = gossip_export_state(s->nodes[i].g, &st, &len);
		if (rc)
			return rc;
		gossip_recv_stream(g0, abs_now(s), &s->nodes[i].addr, st, len);
		free(st);
	}
	rc = gossip_export_state(g0, &st, &len);
	if (rc)
		return rc;
	for (size_t i = 1; i < count; i++)
		gossip_recv_stream(s->nodes[i].g, abs_now(s), &s->nodes[0].addr, st,
		                   len);
	free(st);
	/* Nothing of the bootstrap goes on the wire: discard it. */
	for (size_t i = 0; i < count; i++) {
		struct gossip_packet p;
		struct gossip_stream_msg m;

		while (gossip_pop_packet(s->nodes[i].g, &p))
			free(p.data);
		while (gossip_pop_stream(s->nodes[i].g, &m))
			free(m.data);
		schedule(s, &s->nodes[i]);
	}
	return 0;
}

int
simnet_join(struct simnet *s, size_t i, size_t seed)
{
	struct simnode *n = &s->nodes[i];
	int rc;

	if (!n->up && (rc = simnet_start(s, i)) != 0)
		return rc;
	rc = gossip_join(n->g, abs_now(s), &s->nodes[seed].addr, 1);
	flush(s, n);
	return rc;
}

void
simnet_crash(struct simnet *s, size_t i)
{
	drop_node(&s->nodes[i]);
}

int
simnet_restart(struct simnet *s, size_t i, size_t seed)
{
	drop_node(&s->nodes[i]);
	return simnet_join(s, i, seed);
}

void
simnet_pause(struct simnet *s, size_t i, int64_t ms)
{
	struct simnode *n = &s->nodes[i];
	struct simev ev;

	if (!n->up || n->paused_until)
		return;
	n->paused_until = s->now + ms;
	n->timer_gen++;
	n->timer_at = -1;
	memset(&ev, 0, sizeof(ev));
	ev.t = n->paused_until;
	ev.kind = EV_RESUME;
	ev.node = (uint32_t)i;
	ev.gen = n->timer_gen;
	heap_push(s, ev);
}

void
simnet_partition(struct simnet *s, const int *group)
{
	for (size_t i = 0; i < s->n; i++)
		s->nodes[i].group = group[i];
	s->partitioned = true;
	s->streams_cross = false;
}

void
simnet_partition_udp(struct simnet *s, const int *group)
{
	simnet_partition(s, group);
	s->streams_cross = true;
}

void
simnet_heal(struct simnet *s)
{
	s->partitioned = false;
}

int
simnet_leave(struct simnet *s, size_t i)
{
	int rc = gossip_leave(s->nodes[i].g, abs_now(s));

	flush(s, &s->nodes[i]);
	return rc;
}

static void
resume(struct simnet *s, struct simnode *n)
{
	n->paused_until = 0;
	/* What queued up while paused is read in one burst, as a process
	 * coming back from a stop reads its socket buffer. */
	for (size_t i = 0; i < n->inbox_n && n->up; i++) {
		deliver(s, n, &n->inbox[i]);
		free(n->inbox[i].data);
	}
	n->inbox_n = 0;
	if (n->up) {
		gossip_tick(n->g, abs_now(s));
		flush(s, n);
	}
}

void
simnet_run_until(struct simnet *s, int64_t t)
{
	while (s->heap_n > 0 && s->heap[0].t <= t) {
		struct simev ev = heap_pop(s);
		struct simnode *n = &s->nodes[ev.node];

		s->now = ev.t;
		switch (ev.kind) {
		case EV_TIMER:
			if (!n->up || n->paused_until || ev.gen != n->timer_gen)
				break;
			n->timer_at = -1;
			gossip_tick(n->g, abs_now(s));
			flush(s, n);
			break;
		case EV_RESUME:
			if (n->up && n->paused_until && ev.gen == n->timer_gen)
				resume(s, n);
			break;
		case EV_REFUSED:
			/* n sent to ev.from, whose host answered port
			 * unreachable. */
			if (n->up && !n->paused_until) {
				struct gossip_addr to = addr_of(ev.from);

				gossip_recv_refused(n->g, abs_now(s), &to);
				flush(s, n);
			}
			break;
		case EV_PACKET:
		case EV_STREAM:
			if (!n->up) {
				/* A crashed process on a live host: its port is
				 * closed, and the host says so (ICMP). */
				if (ev.kind == EV_PACKET && s->cfg.icmp) {
					struct simev r;

					memset(&r, 0, sizeof(r));
					r.t = s->now + delay(s);
					r.kind = EV_REFUSED;
					r.node = ev.from;
					r.from = ev.node;
					heap_push(s, r);
				}
				break;
			}
			if (n->paused_until) {
				if (n->inbox_n == n->inbox_cap) {
					size_t nc = n->inbox_cap ? 2 * n->inbox_cap : 64;
					struct simev *ib;

					if (nc > 4096)
						break; /* socket buffer full */
					ib = realloc(n->inbox, nc * sizeof(*ib));
					if (ib == NULL)
						break;
					n->inbox = ib;
					n->inbox_cap = nc;
				}
				n->inbox[n->inbox_n++] = ev;
				continue; /* keeps ev.data */
			}
			deliver(s, n, &ev);
			break;
		}
		free(ev.data);
	}
	if (s->now < t)
		s->now = t;
}

/* --- queries --- */

struct gossip *
simnet_gossip(struct simnet *s, size_t i)
{
	return s->nodes[i].g;
}

bool
simnet_is_up(const struct simnet *s, size_t i)
{
	return s->nodes[i].up;
}

bool
simnet_is_paused(const struct simnet *s, size_t i)
{
	return s->nodes[i].paused_until != 0;
}

const uint8_t *
simnet_id(const struct simnet *s, size_t i)
{
	return s->cfg.real_crypto ? s->nodes[i].key.id : s->nodes[i].tctx.id;
}

const struct key_pair *
simnet_key(const struct simnet *s, size_t i)
{
	return &s->nodes[i].key;
}

const uint8_t *
simnet_cert(const struct simnet *s, size_t i, size_t *len)
{
	*len = s->nodes[i].cert_len;
	return s->nodes[i].cert;
}

static int
cmp_ids(const void *a, const void *b)
{
	const struct simid *x = a, *y = b;

	return memcmp(x->id, y->id, KEY_ID_LEN);
}

static int
build_index(struct simnet *s)
{
	s->ids = malloc(s->n * sizeof(*s->ids));
	if (s->ids == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < s->n; i++) {
		memcpy(s->ids[i].id, simnet_id(s, i), KEY_ID_LEN);
		s->ids[i].index = i;
	}
	qsort(s->ids, s->n, sizeof(*s->ids), cmp_ids);
	return 0;
}

size_t
simnet_find(const struct simnet *s, const uint8_t id[KEY_ID_LEN])
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->ids[mid].id, id, KEY_ID_LEN);

		if (c == 0)
			return s->ids[mid].index;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

int
simnet_view(struct simnet *s, size_t at, size_t about)
{
	enum gossip_state st;

	if (!s->nodes[at].up ||
	    gossip_member_get(s->nodes[at].g, simnet_id(s, about), &st, NULL))
		return -1;
	return (int)st;
}

void
simnet_traffic(const struct simnet *s, size_t i, uint64_t *bytes,
               uint64_t *pkts)
{
	*bytes = s->nodes[i].bytes_out;
	*pkts = s->nodes[i].pkts_out;
}

int
simnet_inject(struct simnet *s, size_t i, size_t from, const uint8_t *p,
              size_t len)
{
	struct gossip_addr a = addr_of(from);
	int rc = gossip_recv_packet(s->nodes[i].g, abs_now(s), &a, p, len);

	flush(s, &s->nodes[i]);
	return rc;
}
