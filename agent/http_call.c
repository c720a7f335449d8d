/*
 * One HTTP request through the mesh, caller side (agent/http_call.h).
 *
 * A call lives through tries.  Each try is one mesh stream to one
 * endpoint; between tries the call waits out a back-off with no stream.
 * One timer serves every deadline: the whole request, the try, idleness,
 * and the end of a back-off.  Retries are only opened from the timer,
 * never from inside a mesh event, so a new stream on another connection
 * is always flushed from a plain libuv callback.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "agent/accesslog.h"
#include "agent/agent.h"
#include "agent/http_call.h"
#include "agent/http_retry.h"
#include "agent/proxy_int.h"
#include "common/counter.h"
#include "common/err.h"
#include "common/str.h"
#include "crypto/key.h"
#include "proxy/balance.h"
#include "proxy/mesh.h"
#include "proxy/route.h"
#include "proxy/table.h"
#include "proxy/trace.h"

#define SERVICE_MAX 64
#define MAX_BUDGETS 1024
#define RAND_BLOCK 1024
/* Freed calls kept per caller for the next requests, each with its
 * request-head block when that is at most NV_KEEP_MAX bytes; a head block
 * is at least NV_BLOCK_MIN so that most heads fit a kept one. */
#define SPARE_MAX 64
#define NV_BLOCK_MIN 1024u
#define NV_KEEP_MAX 8192u

/* Retries are budgeted per virtual service, across calls. */
struct call_budget {
	struct list link;
	char service[SERVICE_MAX];
	struct route_budget b;
};

struct http_caller {
	struct agent_proxy *px;
	struct http_caller_config cfg;
	struct http_call_stats st;
	struct list budgets;
	unsigned n_budgets;
	/* Randomness for picks, back-offs and trace ids, a block at a time
	 * from a ChaCha20 stream (libsodium's randombytes_buf_deterministic)
	 * keyed once from the system and re-keyed from each block's tail:
	 * a getrandom per draw was a third of the caller's syscall time,
	 * and libsodium draws a bigger block 256 bytes per syscall. */
	struct weft_rng rng;
	uint8_t rand_key[randombytes_SEEDBYTES];
	bool rand_keyed;
	uint8_t rand_buf[RAND_BLOCK + randombytes_SEEDBYTES];
	size_t rand_pos; /* bytes of the block used */
	/* The connection whose event is being handled: proxy_io.c flushes
	 * it afterwards, so it is not kicked from inside. */
	struct mesh_conn *ev_conn;
	struct list spare; /* struct http_call, freed, to reuse */
	size_t n_spare;
};

enum call_state {
	CALL_TRYING = 1, /* a stream is out, no head yet */
	CALL_WAITING,    /* back-off before the next try */
	CALL_ANSWERED,   /* the head went to the front end */
	CALL_FAILED,     /* an error or abort went to the front end */
};

struct http_call {
	enum proxy_stream_kind kind; /* PROXY_STREAM_HTTP_CALL: first */
	struct http_caller *hc;
	struct http_call_sink sink;
	uv_timer_t timer;
	enum call_state state;
	struct table *table; /* the snapshot rule and ep live in */
	const struct route_rule *rule;
	const struct table_endpoint *ep;
	struct mesh_stream *ms;
	struct mesh_conn *mc;
	struct call_budget *budget;
	char service[SERVICE_MAX];
	nghttp2_nv *nv; /* the request head, owned (one block) */
	size_t n_nv;
	size_t nv_cap;  /* the block's bytes, kept with a spare call */
	struct list spare_link; /* on hc->spare once freed */
	nghttp2_nv *tr; /* request trailers kept for a retry, owned */
	size_t n_tr;
	uint8_t *body; /* the body sent so far, for retries */
	size_t body_len;
	size_t body_cap;
	size_t replay_off; /* how much of body the current try has */
	bool may_retry;    /* a rule with retries, body still held */
	bool end_stream;
	bool req_ended;
	bool end_sent;
	bool want_writable;
	bool grpc;
	bool upgrade;
	unsigned tries;
	int64_t start_ms;
	int64_t try_start_ms;
	uint64_t try_start_ns; /* uv_hrtime(), for the latency reported */
	bool try_cold;         /* the try waited for a mesh handshake */
	int64_t deadline_ms;     /* whole request; 0: none */
	int64_t per_try_ms;      /* 0: none */
	int64_t idle_ms;         /* 0: none */
	int64_t last_ms;         /* last bytes either way */
	int64_t wake_ms;         /* end of the back-off */
	/* For the access log and metrics. */
	char source[SERVICE_MAX];    /* the calling app's service */
	char trace_id[2 * TRACE_ID_LEN + 1];
	char upstream[160];          /* the last try's "node host:port" */
	char why[HTTP_CALL_REASON_MAX]; /* weft's answer or abort, if any */
	uint64_t start_ns;
	int64_t start_wall_ms;
	uint64_t bytes_in, bytes_out;
	int status;                  /* the answer's, or weft's own */
	bool timed_out;
	bool generated;
	bool observed;
};

static int64_t
now_ms(const struct http_call *c)
{
	return agent_proxy_now(c->hc->px);
}

static const char *
self_name(const struct http_caller *hc)
{
	return agent_proxy_node(hc->px);
}

static void
kick(struct http_call *c, struct mesh_conn *mc)
{
	if (mc != NULL && mc != c->hc->ev_conn)
		agent_proxy_kick(mc);
}

static int
caller_rand_fill(void *ctx, void *out, size_t n)
{
	struct http_caller *hc = ctx;
	uint8_t *o = out;
	int rc;

	if (n > RAND_BLOCK)
		return weft_rng_fill(&key_system_rng, out, n);
	while (n > 0) {
		size_t k = RAND_BLOCK - hc->rand_pos;

		if (k == 0) {
			if (!hc->rand_keyed) {
				rc = weft_rng_fill(&key_system_rng, hc->rand_key,
				                   sizeof(hc->rand_key));
				if (rc != 0)
					return rc;
				hc->rand_keyed = true;
			}
			randombytes_buf_deterministic(hc->rand_buf,
			                              sizeof(hc->rand_buf),
			                              hc->rand_key);
			/* The next key: the block's tail, never handed out. */
			memcpy(hc->rand_key, hc->rand_buf + RAND_BLOCK,
			       sizeof(hc->rand_key));
			sodium_memzero(hc->rand_buf + RAND_BLOCK,
			               sizeof(hc->rand_key));
			hc->rand_pos = 0;
			continue;
		}
		if (k > n)
			k = n;
		memcpy(o, hc->rand_buf + hc->rand_pos, k);
		hc->rand_pos += k;
		o += k;
		n -= k;
	}
	return 0;
}

static uint64_t
rand64(struct http_caller *hc)
{
	uint64_t r = 0;

	(void)weft_rng_fill(&hc->rng, &r, sizeof(r));
	return r;
}

static bool
nv_is(const nghttp2_nv *v, const char *name)
{
	size_t n = strlen(name);

	return v->namelen == n && memcmp(v->name, name, n) == 0;
}

static const nghttp2_nv *
nv_find(const nghttp2_nv *nv, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (nv_is(&nv[i], name))
			return &nv[i];
	return NULL;
}

/*
 * Copies a header block into one allocation, every name and value
 * NUL-terminated (route matching wants C strings), with one more field
 * (xname, xval) appended at the end when xname is set.  *blk (of *cap
 * bytes, NULL and 0 for none) is reused when the copy fits, else
 * replaced.  Returns the block, NULL when out of memory (*blk freed).
 */
static nghttp2_nv *
nv_copy(nghttp2_nv **blk, size_t *cap, const nghttp2_nv *nv, size_t n,
        const char *xname, const char *xval, size_t *n_out)
{
	size_t bytes = 0, k = n + (xname != NULL), need;
	nghttp2_nv *out;
	char *p;

	for (size_t i = 0; i < n; i++)
		bytes += nv[i].namelen + nv[i].valuelen + 2;
	if (xname != NULL)
		bytes += strlen(xname) + strlen(xval) + 2;
	need = k * sizeof(*out) + bytes;
	if (need > *cap) {
		free(*blk);
		*cap = need > NV_BLOCK_MIN ? need : NV_BLOCK_MIN;
		if ((*blk = malloc(*cap)) == NULL) {
			*cap = 0;
			return NULL;
		}
	}
	out = *blk;
	p = (char *)(out + k);
	for (size_t i = 0; i < k; i++) {
		const uint8_t *name, *value;
		size_t nl, vl;

		if (i < n) {
			name = nv[i].name;
			nl = nv[i].namelen;
			value = nv[i].value;
			vl = nv[i].valuelen;
		} else {
			name = (const uint8_t *)xname;
			nl = strlen(xname);
			value = (const uint8_t *)xval;
			vl = strlen(xval);
		}
		out[i].name = (uint8_t *)p;
		out[i].namelen = nl;
		memcpy(p, name, nl);
		p[nl] = '\0';
		p += nl + 1;
		out[i].value = (uint8_t *)p;
		out[i].valuelen = vl;
		memcpy(p, value, vl);
		p[vl] = '\0';
		p += vl + 1;
		/* A traceparent is new each request: indexed, it would only
		 * fill the mesh's HPACK table with entries that every later
		 * header's search compares against (two memcmp each). */
		out[i].flags = nl == 11 && memcmp(name, "traceparent", 11) == 0
		                   ? NGHTTP2_NV_FLAG_NO_INDEX
		                   : NGHTTP2_NV_FLAG_NONE;
	}
	*n_out = k;
	return out;
}

static struct call_budget *
budget_for(struct http_caller *hc, const char *service, unsigned percent)
{
	struct list *pos;
	struct call_budget *b;

	list_foreach(pos, &hc->budgets) {
		b = list_entry(pos, struct call_budget, link);
		if (strcmp(b->service, service) == 0) {
			/* The route object may have changed its share. */
			b->b.percent = percent ? percent : ROUTE_BUDGET_PERCENT;
			return b;
		}
	}
	if (hc->n_budgets >= MAX_BUDGETS || (b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	snprintf(b->service, sizeof(b->service), "%s", service);
	route_budget_init(&b->b, 0, percent, ROUTE_BUDGET_MIN_RETRIES);
	list_insert_tail(&hc->budgets, &b->link);
	hc->n_budgets++;
	return b;
}

/* ---- the caller ---- */

int
http_caller_new(struct agent_proxy *px, const struct http_caller_config *cfg,
                struct http_caller **out)
{
	struct http_caller *hc = calloc(1, sizeof(*hc));

	*out = NULL;
	if (hc == NULL)
		return WEFT_ENOMEM;
	hc->px = px;
	if (cfg != NULL)
		hc->cfg = *cfg;
	if (hc->cfg.retry_buffer == 0)
		hc->cfg.retry_buffer = HTTP_CALL_RETRY_BUFFER;
	if (hc->cfg.idle_timeout_ms == 0)
		hc->cfg.idle_timeout_ms = HTTP_CALL_IDLE_TIMEOUT_MS;
	list_init(&hc->budgets);
	list_init(&hc->spare);
	hc->rng.fill = caller_rand_fill;
	hc->rng.ctx = hc;
	hc->rand_pos = RAND_BLOCK; /* drawn at first use */
	*out = hc;
	return 0;
}

void
http_caller_free(struct http_caller *hc)
{
	if (hc == NULL)
		return;
	while (!list_empty(&hc->budgets)) {
		struct call_budget *b = list_entry(hc->budgets.next,
		                                   struct call_budget, link);

		list_remove(&b->link);
		free(b);
	}
	while (!list_empty(&hc->spare)) {
		struct http_call *c = list_entry(hc->spare.next,
		                                 struct http_call, spare_link);

		list_remove(&c->spare_link);
		free(c->nv);
		free(c);
	}
	free(hc);
}

const struct http_call_stats *
http_caller_stats(const struct http_caller *hc)
{
	return &hc->st;
}

/* ---- tries ---- */

static void call_rearm(struct http_call *c);

/* A zeroed call, a spare one (its head block kept) when there is one. */
static struct http_call *
call_get(struct http_caller *hc)
{
	struct http_call *c;
	nghttp2_nv *nv;
	size_t cap;

	if (list_empty(&hc->spare))
		return calloc(1, sizeof(struct http_call));
	c = list_entry(hc->spare.next, struct http_call, spare_link);
	list_remove(&c->spare_link);
	hc->n_spare--;
	nv = c->nv;
	cap = c->nv_cap;
	memset(c, 0, sizeof(*c));
	c->nv = nv;
	c->nv_cap = cap;
	return c;
}

/* c's timer is closed (or was never initialized) and its table let go. */
static void
call_put(struct http_caller *hc, struct http_call *c)
{
	/* Mostly NULL: no call into free then. */
	if (c->tr != NULL)
		free(c->tr);
	c->tr = NULL;
	if (c->body != NULL)
		free(c->body);
	c->body = NULL;
	if (hc->n_spare < SPARE_MAX && c->nv_cap <= NV_KEEP_MAX) {
		list_insert_head(&hc->spare, &c->spare_link);
		hc->n_spare++;
		return;
	}
	free(c->nv);
	free(c);
}

static void
call_freed(uv_handle_t *h)
{
	struct http_call *c = h->data;

	table_unref(c->table);
	call_put(c->hc, c);
}

static enum balance_result
result_of(int status)
{
	if (status == 502 || status == 503 || status == 504)
		return BALANCE_GATEWAY_ERROR;
	if (status >= 500)
		return BALANCE_5XX;
	return BALANCE_OK;
}

/*
 * The try's latency for the balancer in microseconds (the loop's clock
 * would make every answer on loopback take 0 ms), or -1 when the try
 * waited for a new mesh connection: a handshake says nothing of the
 * endpoint's speed, and as a first sample it would make the endpoint
 * look slow to every two-choice draw until it decays.
 */
static int64_t
try_latency_us(const struct http_call *c)
{
	if (c->try_cold)
		return -1;
	return (int64_t)((uv_hrtime() - c->try_start_ns) / 1000);
}

/* The try's stream is done with: outstanding count, EWMA and outliers. */
static void
end_try(struct http_call *c, bool report, enum balance_result r)
{
	struct balance *b = agent_proxy_balance(c->hc->px);
	struct mesh_conn *mc = c->mc;
	int64_t now = now_ms(c);

	if (c->ms != NULL) {
		mesh_stream_close(c->ms);
		c->ms = NULL;
	}
	if (c->ep != NULL) {
		if (report)
			balance_request_done_us(b, c->ep, now, try_latency_us(c),
			                     r);
		balance_stream_ended(b, c->ep);
		c->ep = NULL;
	}
	c->mc = NULL;
	kick(c, mc);
}

/* Sends what the current try lacks of the body; true once it has it all. */
static bool
replay(struct http_call *c)
{
	size_t acc;

	while (c->replay_off < c->body_len) {
		acc = 0;
		if (mesh_stream_write(c->ms, c->body + c->replay_off,
		                      c->body_len - c->replay_off, &acc) != 0)
			return true; /* the stream is gone; its event follows */
		c->replay_off += acc;
		if (acc == 0)
			return false; /* MESH_EV_WRITABLE follows */
	}
	if (c->req_ended && !c->end_sent && !c->end_stream) {
		c->end_sent = true;
		mesh_stream_end_trailers(c->ms, c->tr, c->n_tr);
	}
	return true;
}

/* Fills *err for a pick that found nothing. */
static void
no_endpoint(struct http_call *c, const char *service,
            const struct balance_miss *m, struct http_call_error *err)
{
	if (m->total == 0) {
		/* Until a first push-pull has brought the cluster's records
		 * (a restart begins with names and addresses only), an
		 * unknown service is not known to be missing: 503, which
		 * apps retry, rather than a final-looking 404. */
		if (!agent_proxy_heard(c->hc->px)) {
			err->status = 503;
			snprintf(err->reason, sizeof(err->reason), "no endpoint "
			         "of %s known yet: this agent has not heard from "
			         "the cluster since it started", service);
			return;
		}
		err->status = 404;
		snprintf(err->reason, sizeof(err->reason), "no such service: %s",
		         service);
		return;
	}
	err->status = 503;
	/* Cut short if need be: the counts are in the log too. */
	if (snprintf(err->reason, sizeof(err->reason), "no healthy endpoint "
	             "for %s (%zu: %zu down, %zu unhealthy, %zu ejected, %zu "
	             "back-off, %zu unlabelled)", service, m->total,
	             m->not_alive, m->unhealthy, m->ejected, m->backoff,
	             m->unlabelled) >= (int)sizeof(err->reason))
		err->reason[sizeof(err->reason) - 1] = '\0';
}

/*
 * Opens one try.  0; 1 when the endpoint's connection failed (a connect
 * failure, which a retry may get past); negative with *err otherwise.
 */
static int
open_try(struct http_call *c, struct http_call_error *err)
{
	struct agent_proxy *px = c->hc->px;
	struct balance *b = agent_proxy_balance(px);
	const struct route_target *tg = NULL;
	const struct table_endpoint *ep;
	const char *service = c->service;
	struct balance_miss miss;
	struct mesh_conn *mc;
	size_t used;
	int rc;

	memset(&miss, 0, sizeof(miss));
	if (c->rule != NULL) {
		rc = route_pick_target(c->rule, rand64(c->hc), &tg);
		if (rc) {
			err->status = 503;
			snprintf(err->reason, sizeof(err->reason), "route for %s "
			         "has no target", c->service);
			return WEFT_ENOENT;
		}
		service = tg->service;
	}
	rc = balance_pick_subset(b, c->table, service, tg ? tg->labels : NULL,
	                         tg ? tg->n_labels : 0, now_ms(c),
	                         &c->hc->rng, &ep, &miss);
	if (rc) {
		no_endpoint(c, service, &miss, err);
		return WEFT_ENOENT;
	}
	c->tries++;
	c->try_start_ms = now_ms(c);
	c->try_start_ns = uv_hrtime();
	used = 0;
	c->upstream[0] = '\0';
	weft_str_put(c->upstream, sizeof(c->upstream), &used, ep->node);
	weft_str_put(c->upstream, sizeof(c->upstream), &used, " ");
	weft_str_put(c->upstream, sizeof(c->upstream), &used, ep->mesh_addr);
	if (agent_proxy_conn_for(px, ep, &mc) != 0) {
		balance_connect_failed(b, ep, now_ms(c));
		balance_request_done_us(b, ep, now_ms(c), -1,
		                        BALANCE_GATEWAY_ERROR);
		err->status = 502;
		snprintf(err->reason, sizeof(err->reason), "cannot reach %s (%s)",
		         ep->node, ep->mesh_addr);
		return 1;
	}
	c->try_cold = mesh_conn_state(mc) == MESH_CONN_HANDSHAKE;
	rc = mesh_request_open(mc, service, c->nv, c->n_nv,
	                       c->end_stream, c, &c->ms);
	if (rc) {
		err->status = rc == WEFT_EINVAL ? 400 : rc == WEFT_ETOOBIG ? 431 :
		              502;
		snprintf(err->reason, sizeof(err->reason), "%s",
		         rc == WEFT_EINVAL ? "request head not accepted"
		         : rc == WEFT_ETOOBIG
		             ? "request head over the mesh's limits (128 fields, "
		               "64 KiB)"
		         : rc == WEFT_EPOLICY
		             ? "endpoint's certificate does not list the service"
		             : "mesh connection cannot take a stream");
		kick(c, mc);
		return rc == WEFT_EINVAL || rc == WEFT_ETOOBIG ? rc : 1;
	}
	c->mc = mc;
	c->ep = ep;
	balance_stream_started(b, ep);
	c->state = CALL_TRYING;
	c->replay_off = 0;
	c->end_sent = false;
	c->last_ms = c->try_start_ms;
	replay(c);
	kick(c, mc);
	return 0;
}

/* Whether a try that ended so may be retried now (counts the retry). */
static bool
can_retry(struct http_call *c, enum route_outcome o, int status, int grpc)
{
	struct http_retry_state rs = {
		.policy = c->rule != NULL ? &c->rule->retry : NULL,
		.body_kept = c->may_retry && !c->upgrade,
		.tries = c->tries,
		.deadline_ms = c->deadline_ms,
	};

	switch (http_retry_decide(&rs, c->budget ? &c->budget->b : NULL,
	                          now_ms(c), o, status, grpc)) {
	case HTTP_RETRY_YES:
		return true;
	case HTTP_RETRY_BUDGET:
		COUNTER_INC(c->hc->st.budget_denied);
		return false;
	default:
		return false;
	}
}

static void
schedule_retry(struct http_call *c)
{
	c->state = CALL_WAITING;
	c->wake_ms = now_ms(c) +
	             route_backoff_ms(&c->rule->retry, c->tries, rand64(c->hc));
	call_rearm(c);
}

/* Hands weft's own answer to the front end (the last thing done). */
static void
fail(struct http_call *c, int status, const char *reason, const char *agent)
{
	struct http_caller *hc = c->hc;

	if (c->ms != NULL)
		end_try(c, false, BALANCE_OK);
	c->state = CALL_FAILED;
	uv_timer_stop(&c->timer);
	COUNTER_INC(hc->st.errors[status / 100 % 6]);
	c->status = status;
	c->generated = true;
	c->timed_out = status == 504;
	snprintf(c->why, sizeof(c->why), "%s", reason);
	weft_logf(agent_proxy_log(hc->px), WEFT_LOG_INFO,
	          "msg=\"http request failed\" service=%s status=%d by=%s "
	          "tries=%u reason=\"%s\"", c->service, status,
	          agent ? agent : "?", c->tries, reason);
	if (c->sink.on_error)
		c->sink.on_error(c->sink.ctx, status, reason, agent);
}

/* After the head: the response cannot be finished. */
static void
abort_call(struct http_call *c, const char *reason)
{
	if (c->ms != NULL) {
		mesh_stream_reset(c->ms);
		end_try(c, false, BALANCE_OK);
	}
	c->state = CALL_FAILED;
	uv_timer_stop(&c->timer);
	COUNTER_INC(c->hc->st.aborted);
	snprintf(c->why, sizeof(c->why), "%s", reason);
	if (c->sink.on_abort)
		c->sink.on_abort(c->sink.ctx, reason);
}

/* A try ended without an answer for the front end: retry or fail. */
static void
try_failed(struct http_call *c, enum route_outcome o, int status, int grpc,
           int err_status, const char *reason, const char *agent)
{
	if (can_retry(c, o, status, grpc)) {
		schedule_retry(c);
		return;
	}
	fail(c, err_status, reason, agent);
}

static void on_writable(struct http_call *c);

static void
on_timer(uv_timer_t *t)
{
	struct http_call *c = t->data;
	struct http_call_error err = {0};
	int64_t now = now_ms(c);
	char why[HTTP_CALL_REASON_MAX];
	int rc;

	switch (c->state) {
	case CALL_WAITING:
		if (c->deadline_ms && now >= c->deadline_ms) {
			COUNTER_INC(c->hc->st.timeouts);
			fail(c, 504, "request timed out", self_name(c->hc));
			return;
		}
		if (now < c->wake_ms)
			break;
		COUNTER_INC(c->hc->st.retries);
		rc = open_try(c, &err);
		if (rc == 0) {
			call_rearm(c);
			/* A front end that waited for room gets it now. */
			on_writable(c);
			return;
		}
		if (rc > 0)
			try_failed(c, ROUTE_OUTCOME_CONNECT_FAILURE, 0, -1,
			           err.status, err.reason, self_name(c->hc));
		else
			fail(c, err.status, err.reason, self_name(c->hc));
		return;
	case CALL_TRYING:
		if (c->deadline_ms && now >= c->deadline_ms) {
			COUNTER_INC(c->hc->st.timeouts);
			end_try(c, true, BALANCE_GATEWAY_ERROR);
			snprintf(why, sizeof(why), "no answer within the request "
			         "timeout (%lld ms)",
			         (long long)(c->deadline_ms - c->start_ms));
			fail(c, 504, why, self_name(c->hc));
			return;
		}
		if (c->per_try_ms && now >= c->try_start_ms + c->per_try_ms) {
			COUNTER_INC(c->hc->st.timeouts);
			mesh_stream_reset(c->ms);
			end_try(c, true, BALANCE_GATEWAY_ERROR);
			snprintf(why, sizeof(why), "no answer within the per-try "
			         "timeout (%lld ms)", (long long)c->per_try_ms);
			try_failed(c, ROUTE_OUTCOME_TIMEOUT, 0, -1, 504, why,
			           self_name(c->hc));
			return;
		}
		if (c->idle_ms && now >= c->last_ms + c->idle_ms) {
			COUNTER_INC(c->hc->st.timeouts);
			mesh_stream_reset(c->ms);
			end_try(c, true, BALANCE_GATEWAY_ERROR);
			fail(c, 504, "request idle too long", self_name(c->hc));
			return;
		}
		break;
	case CALL_ANSWERED:
		if ((c->deadline_ms && now >= c->deadline_ms) ||
		    (c->idle_ms && now >= c->last_ms + c->idle_ms)) {
			COUNTER_INC(c->hc->st.timeouts);
			c->timed_out = true;
			abort_call(c, "response timed out");
			return;
		}
		break;
	case CALL_FAILED:
		return;
	}
	call_rearm(c);
}

static void
call_rearm(struct http_call *c)
{
	static const enum http_timer_phase phase[] = {
		[CALL_TRYING] = HTTP_PHASE_TRYING,
		[CALL_WAITING] = HTTP_PHASE_WAITING,
		[CALL_ANSWERED] = HTTP_PHASE_ANSWERED,
		[CALL_FAILED] = HTTP_PHASE_DONE,
	};
	struct http_timer_state ts = {
		.phase = phase[c->state],
		.deadline_ms = c->deadline_ms,
		.try_start_ms = c->try_start_ms,
		.per_try_ms = c->per_try_ms,
		.idle_ms = c->idle_ms,
		.last_ms = c->last_ms,
		.wake_ms = c->wake_ms,
	};
	int64_t next = http_timer_next(&ts), now = now_ms(c);

	if (next == INT64_MAX) {
		uv_timer_stop(&c->timer);
		return;
	}
	/* The idle deadline moves with every byte: the timer is re-armed
	 * only when it fires, and looks again then. */
	if (uv_is_active((uv_handle_t *)&c->timer) &&
	    (int64_t)uv_timer_get_due_in(&c->timer) + now <= next)
		return;
	uv_timer_start(&c->timer, on_timer,
	               next > now ? (uint64_t)(next - now) : 0, 0);
}

/* ---- start, free ---- */

/* The call's access log line and metrics, once. */
static void
observe(struct http_call *c)
{
	const nghttp2_nv *m = nv_find(c->nv, c->n_nv, ":method");
	const nghttp2_nv *p = nv_find(c->nv, c->n_nv, ":path");
	const nghttp2_nv *au = nv_find(c->nv, c->n_nv, ":authority");
	struct accesslog_entry e = {
		.start_unix_ms = c->start_wall_ms,
		.kind = "http",
		.direction = "outbound",
		.src_service = c->source[0] ? c->source : NULL,
		.src_node = agent_proxy_node(c->hc->px),
		.dst_service = c->service,
		.method = m ? (const char *)m->value : NULL,
		.path = p ? (const char *)p->value : NULL,
		.authority = au ? (const char *)au->value : NULL,
		.status = c->status,
		.bytes_in = c->bytes_in,
		.bytes_out = c->bytes_out,
		.duration_us = (int64_t)((uv_hrtime() - c->start_ns) / 1000),
		.retries = c->tries > 1 ? c->tries - 1 : 0,
		.upstream = c->upstream[0] ? c->upstream : NULL,
		.trace_id = c->trace_id[0] ? c->trace_id : NULL,
		.error = c->why[0] ? c->why : NULL,
	};
	char node[HTTP_CALL_AGENT_MAX];

	if (c->observed)
		return;
	c->observed = true;
	/* The endpoint's node is the upstream's first word. */
	if (c->upstream[0]) {
		size_t used = 0;

		node[0] = '\0';
		weft_str_putn(node, sizeof(node), &used, c->upstream,
		              strcspn(c->upstream, " "));
		e.dst_node = node;
	}
	agent_proxy_observe(c->hc->px, &e, false, c->timed_out, c->generated);
}

/*
 * W3C trace context: the request keeps its traceparent when it has one
 * that parses; otherwise weft starts a trace (and drops tracestate, which
 * belonged to whatever came before).  nv gets the block to send, in
 * scratch when it changed.
 */
static int
trace_head(struct http_call *c, const struct http_call_request *req,
           nghttp2_nv *scratch, size_t cap, const nghttp2_nv **nv,
           size_t *n, char header[TRACEPARENT_LEN + 1])
{
	const nghttp2_nv *tp = NULL;
	struct trace_decision d;
	size_t n_tp = 0, k = 0;
	int rc;

	*nv = req->nv;
	*n = req->n;
	for (size_t i = 0; i < req->n; i++)
		if (nv_is(&req->nv[i], "traceparent")) {
			tp = &req->nv[i];
			n_tp++;
		}
	rc = trace_decide(tp ? (const char *)tp->value : NULL,
	                  tp ? tp->valuelen : 0, n_tp, &c->hc->rng, true, &d);
	if (rc)
		return rc;
	trace_id_hex(&d.ctx, c->trace_id);
	if (d.keep)
		return 0;
	for (size_t i = 0; i < req->n; i++) {
		if (nv_is(&req->nv[i], "traceparent") ||
		    nv_is(&req->nv[i], "tracestate"))
			continue;
		if (k == cap - 1)
			return WEFT_ENOSPACE;
		scratch[k++] = req->nv[i];
	}
	memcpy(header, d.header, TRACEPARENT_LEN + 1);
	scratch[k++] = (nghttp2_nv){
		.name = (uint8_t *)(uintptr_t)"traceparent",
		.namelen = 11,
		.value = (uint8_t *)header,
		.valuelen = TRACEPARENT_LEN,
		.flags = NGHTTP2_NV_FLAG_NONE,
	};
	*nv = scratch;
	*n = k;
	return 0;
}

int
http_call_start(struct http_caller *hc, const struct http_call_request *req,
                const struct http_call_sink *sink, struct http_call **out,
                struct http_call_error *err)
{
	struct agent_proxy *px = hc->px;
	struct route_header hs[MESH_HEADER_FIELDS_MAX];
	struct route_request rr = {0};
	const struct route_spec *spec;
	const nghttp2_nv *ct, *head;
	nghttp2_nv tnv[MESH_HEADER_FIELDS_MAX + 1];
	char theader[TRACEPARENT_LEN + 1];
	size_t n_head;
	struct http_call *c;
	size_t nh = 0;
	int rc;

	*out = NULL;
	memset(err, 0, sizeof(*err));
	weft_str_copy(err->agent, sizeof(err->agent), self_name(hc));
	COUNTER_INC(hc->st.requests);
	c = call_get(hc);
	if (c == NULL) {
		err->status = 503;
		snprintf(err->reason, sizeof(err->reason), "agent out of memory");
		return WEFT_ENOMEM;
	}
	c->kind = PROXY_STREAM_HTTP_CALL;
	c->hc = hc;
	c->sink = *sink;
	c->start_ns = uv_hrtime();
	c->start_wall_ms = agent_proxy_wall_ms(px);
	weft_str_copy(c->service, sizeof(c->service), req->service);
	weft_str_copy(c->source, sizeof(c->source),
	              req->source ? req->source : "");
	c->upgrade = req->upgrade != NULL;
	c->end_stream = req->end_stream && !c->upgrade;
	if (trace_head(c, req, tnv, sizeof(tnv) / sizeof(tnv[0]), &head,
	               &n_head, theader) != 0) {
		call_put(hc, c);
		err->status = 431;
		snprintf(err->reason, sizeof(err->reason), "too many header "
		         "fields to add a traceparent");
		COUNTER_INC(hc->st.errors[4]);
		return WEFT_EINVAL;
	}
	if (nv_copy(&c->nv, &c->nv_cap, head, n_head,
	            c->upgrade ? MESH_UPGRADE_HEADER : NULL, req->upgrade,
	            &c->n_nv) == NULL) {
		call_put(hc, c);
		err->status = 503;
		snprintf(err->reason, sizeof(err->reason), "agent out of memory");
		return WEFT_ENOMEM;
	}
	ct = nv_find(c->nv, c->n_nv, "content-type");
	c->grpc = ct != NULL && ct->valuelen >= 16 &&
	          memcmp(ct->value, "application/grpc", 16) == 0;
	c->table = table_ref(agent_proxy_table(px));
	c->start_ms = now_ms(c);

	spec = table_route(c->table, c->service);
	if (spec != NULL) {
		for (size_t i = 0; i < c->n_nv; i++) {
			const nghttp2_nv *v = &c->nv[i];

			if (nv_is(v, ":method"))
				rr.method = (const char *)v->value;
			else if (nv_is(v, ":path"))
				rr.path = (const char *)v->value;
			else if (v->namelen > 0 && v->name[0] != ':' &&
			         nh < MESH_HEADER_FIELDS_MAX)
				hs[nh++] = (struct route_header){
					.name = (const char *)v->name,
					.name_len = v->namelen,
					.value = (const char *)v->value,
					.value_len = v->valuelen,
				};
		}
		rr.headers = hs;
		rr.n_headers = nh;
		if (rr.method == NULL || rr.path == NULL ||
		    route_find(spec, &rr, &c->rule, NULL) != 0) {
			err->status = 404;
			snprintf(err->reason, sizeof(err->reason), "no route of %s "
			         "matches the request", c->service);
			rc = WEFT_ENOENT;
			goto fail;
		}
	}
	c->budget = budget_for(hc, c->service,
	                       c->rule ? c->rule->retry.budget_percent : 0);
	if (c->budget != NULL)
		route_budget_request(&c->budget->b, c->start_ms);
	c->may_retry = c->rule != NULL && c->rule->retry.max > 0 && !c->upgrade;
	if (c->rule != NULL && c->rule->timeout_ms > 0 && !c->upgrade)
		c->deadline_ms = c->start_ms + c->rule->timeout_ms;
	else if (hc->cfg.timeout_ms > 0 && !c->upgrade)
		c->deadline_ms = c->start_ms + hc->cfg.timeout_ms;
	c->idle_ms = c->rule != NULL && c->rule->idle_timeout_ms > 0
	                 ? c->rule->idle_timeout_ms
	                 : hc->cfg.idle_timeout_ms;
	if (c->rule != NULL)
		c->per_try_ms = c->rule->retry.per_try_timeout_ms;
	uv_timer_init(agent_proxy_loop(px), &c->timer);
	c->timer.data = c;

	rc = open_try(c, err);
	if (rc > 0) {
		/* The first endpoint cannot be reached: retry from the timer
		 * when the policy allows, otherwise answer now. */
		if (can_retry(c, ROUTE_OUTCOME_CONNECT_FAILURE, 0, -1)) {
			schedule_retry(c);
			rc = 0;
		} else {
			rc = WEFT_EIO;
		}
	}
	if (rc) {
		c->state = CALL_FAILED;
		COUNTER_INC(hc->st.errors[err->status / 100 % 6]);
		c->status = err->status;
		c->generated = true;
		snprintf(c->why, sizeof(c->why), "%s", err->reason);
		observe(c);
		/* The handle is inside c: freed by its close callback. */
		uv_close((uv_handle_t *)&c->timer, call_freed);
		return rc;
	}
	call_rearm(c);
	*out = c;
	return 0;
fail:
	COUNTER_INC(hc->st.errors[err->status / 100 % 6]);
	c->status = err->status;
	c->generated = true;
	snprintf(c->why, sizeof(c->why), "%s", err->reason);
	observe(c);
	table_unref(c->table);
	call_put(hc, c);
	return rc;
}

void
http_call_free(struct http_call *c)
{
	if (c == NULL)
		return;
	observe(c);
	if (c->ms != NULL)
		end_try(c, false, BALANCE_OK);
	memset(&c->sink, 0, sizeof(c->sink));
	c->state = CALL_FAILED;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, call_freed);
}

/* ---- the request body ---- */

int
http_call_write(struct http_call *c, const void *data, size_t len,
                size_t *accepted)
{
	size_t acc = 0;
	int rc;

	*accepted = 0;
	if (c->state == CALL_FAILED || (c->req_ended && !c->upgrade)) {
		*accepted = len; /* nobody reads it any more */
		return 0;
	}
	if (c->ms == NULL || c->replay_off < c->body_len) {
		c->want_writable = true;
		return 0;
	}
	rc = mesh_stream_write(c->ms, data, len, &acc);
	if (rc == WEFT_ECLOSED) {
		/* The answer ended early or the stream died (its event
		 * follows): what is left is nobody's. */
		*accepted = len;
		return 0;
	}
	if (acc < len)
		c->want_writable = true;
	if (c->may_retry && c->state == CALL_TRYING && acc > 0) {
		if (c->body_len + acc > c->hc->cfg.retry_buffer) {
			/* Too long to replay: this request is not retried. */
			c->may_retry = false;
			free(c->body);
			c->body = NULL;
			c->body_len = c->body_cap = c->replay_off = 0;
		} else {
			if (c->body_len + acc > c->body_cap) {
				size_t cap = c->body_cap ? c->body_cap * 2 : 4096;
				uint8_t *nb;

				while (cap < c->body_len + acc)
					cap *= 2;
				if (cap > c->hc->cfg.retry_buffer)
					cap = c->hc->cfg.retry_buffer;
				nb = realloc(c->body, cap);
				if (nb == NULL) {
					c->may_retry = false;
					free(c->body);
					c->body = NULL;
					c->body_len = c->body_cap = 0;
					c->replay_off = 0;
					goto sent;
				}
				c->body = nb;
				c->body_cap = cap;
			}
			memcpy(c->body + c->body_len, data, acc);
			c->body_len += acc;
			c->replay_off = c->body_len;
		}
	} else if (c->state != CALL_TRYING && c->may_retry) {
		/* Answered: no retry can come any more. */
		c->may_retry = false;
		free(c->body);
		c->body = NULL;
		c->body_len = c->body_cap = c->replay_off = 0;
	}
sent:
	*accepted = acc;
	c->bytes_in += acc;
	if (acc > 0)
		c->last_ms = now_ms(c);
	kick(c, c->mc);
	return 0;
}

size_t
http_call_write_room(struct http_call *c)
{
	size_t room, acc = 0;
	uint8_t dummy = 0;

	if (c->state == CALL_FAILED || (c->req_ended && !c->upgrade))
		return HTTP_CALL_RETRY_BUFFER;
	if (c->ms == NULL || c->replay_off < c->body_len) {
		c->want_writable = true;
		return 0;
	}
	room = mesh_stream_write_room(c->ms);
	if (room == 0) {
		/* The core announces room only after a write it could not
		 * take: ask for a byte it cannot take now. */
		c->want_writable = true;
		(void)mesh_stream_write(c->ms, &dummy, 1, &acc);
	}
	return room;
}

int
http_call_end(struct http_call *c, const nghttp2_nv *trailers, size_t n)
{
	if (c->req_ended)
		return WEFT_ESTATE;
	c->req_ended = true;
	if (c->end_stream)
		return 0;
	if (n > 0) {
		size_t cap = 0;

		if (nv_copy(&c->tr, &cap, trailers, n, NULL, NULL,
		            &c->n_tr) == NULL)
			c->n_tr = 0;
	}
	if (c->ms != NULL && c->replay_off == c->body_len && !c->end_sent) {
		c->end_sent = true;
		mesh_stream_end_trailers(c->ms, c->tr, c->n_tr);
		kick(c, c->mc);
	}
	return 0;
}

/* ---- the response ---- */

void
http_call_read_peek(struct http_call *c, const uint8_t **p, size_t *len,
                    bool *eof)
{
	*p = NULL;
	*len = 0;
	*eof = false;
	if (c->state == CALL_ANSWERED && c->ms != NULL)
		mesh_stream_read_peek(c->ms, p, len, eof);
}

void
http_call_read_consume(struct http_call *c, size_t n)
{
	if (c->state != CALL_ANSWERED || c->ms == NULL || n == 0)
		return;
	mesh_stream_read_consume(c->ms, n);
	c->bytes_out += n;
	c->last_ms = now_ms(c);
	kick(c, c->mc);
}

int
http_call_trailers(struct http_call *c, const nghttp2_nv **nv, size_t *n)
{
	*nv = NULL;
	*n = 0;
	if (c->state != CALL_ANSWERED || c->ms == NULL)
		return WEFT_ESTATE;
	return mesh_stream_trailers(c->ms, nv, n);
}

/* ---- mesh events ---- */

static int
grpc_status_of(const nghttp2_nv *nv, size_t n)
{
	const nghttp2_nv *v = nv_find(nv, n, "grpc-status");
	int s = 0;

	if (v == NULL || v->valuelen == 0 || v->valuelen > 2)
		return -1;
	for (size_t i = 0; i < v->valuelen; i++) {
		if (v->value[i] < '0' || v->value[i] > '9')
			return -1;
		s = s * 10 + (v->value[i] - '0');
	}
	return s;
}

static void
on_response(struct http_call *c, const struct mesh_event *ev)
{
	const nghttp2_nv *nv = NULL, *up;
	size_t n = 0;
	int status = ev->status, grpc = -1;
	bool upgraded;

	if (c->state != CALL_TRYING)
		return;
	if (mesh_stream_head(c->ms, &nv, &n) != 0) {
		nv = NULL;
		n = 0;
	}
	up = nv_find(nv, n, MESH_UPGRADED_HEADER);
	upgraded = c->upgrade && status == 200 && up != NULL &&
	           up->valuelen == 3 && memcmp(up->value, "101", 3) == 0;
	if (c->grpc)
		grpc = grpc_status_of(nv, n);
	if (!upgraded && can_retry(c, ROUTE_OUTCOME_RESPONSE, status, grpc)) {
		end_try(c, true, result_of(status));
		schedule_retry(c);
		return;
	}
	balance_request_done_us(agent_proxy_balance(c->hc->px), c->ep,
	                        now_ms(c), try_latency_us(c), result_of(status));
	balance_connect_ok(agent_proxy_balance(c->hc->px), c->ep);
	c->state = CALL_ANSWERED;
	c->status = upgraded ? 101 : status;
	c->last_ms = now_ms(c);
	COUNTER_INC(c->hc->st.responses[(upgraded ? 101 : status) / 100 % 6]);
	if (upgraded)
		c->deadline_ms = 0;
	/* Nothing more to replay. */
	if (c->may_retry) {
		c->may_retry = false;
		free(c->body);
		c->body = NULL;
		c->body_len = c->body_cap = c->replay_off = 0;
	}
	call_rearm(c);
	if (c->sink.on_head)
		c->sink.on_head(c->sink.ctx, upgraded ? 101 : status, nv, n,
		                upgraded);
}

static void
on_refused(struct http_call *c, const struct mesh_event *ev)
{
	char reason[HTTP_CALL_REASON_MAX];
	char agent[HTTP_CALL_AGENT_MAX];
	int status = ev->status;

	if (c->state != CALL_TRYING)
		return;
	snprintf(reason, sizeof(reason), "%s",
	         ev->reason ? ev->reason : "refused");
	/* 421 is decided here, before anything was sent. */
	snprintf(agent, sizeof(agent), "%s",
	         status == 421 ? self_name(c->hc)
	         : ev->peer    ? ev->peer
	         : c->ep       ? c->ep->node
	                       : "?");
	end_try(c, true, result_of(status));
	try_failed(c, ROUTE_OUTCOME_RESPONSE, status, -1, status, reason, agent);
}

static void
on_reset(struct http_call *c, const struct mesh_event *ev)
{
	char why[HTTP_CALL_REASON_MAX];
	bool connect_failure;

	if (c->state == CALL_ANSWERED) {
		abort_call(c, ev->reason ? ev->reason : "upstream reset");
		return;
	}
	if (c->state != CALL_TRYING)
		return;
	/* Never got past the handshake: the endpoint was not reached. */
	connect_failure = mesh_conn_peer(ev->conn) == NULL;
	if (connect_failure) {
		balance_connect_failed(agent_proxy_balance(c->hc->px), c->ep,
		                       now_ms(c));
		snprintf(why, sizeof(why), "cannot reach %s: %s",
		         c->ep ? c->ep->node : "?",
		         ev->reason ? ev->reason : "connection failed");
	} else {
		snprintf(why, sizeof(why), "upstream reset the request%s%s",
		         ev->reason ? ": " : "", ev->reason ? ev->reason : "");
	}
	end_try(c, true, BALANCE_GATEWAY_ERROR);
	try_failed(c, connect_failure ? ROUTE_OUTCOME_CONNECT_FAILURE
	                              : ROUTE_OUTCOME_RESET,
	           0, -1, 502, why, self_name(c->hc));
}

static void
on_writable(struct http_call *c)
{
	if (c->ms == NULL || c->state == CALL_FAILED)
		return;
	if (!replay(c))
		return;
	if (c->want_writable) {
		c->want_writable = false;
		if (c->sink.on_writable)
			c->sink.on_writable(c->sink.ctx);
	}
}

void
http_call_event(struct http_caller *hc, const struct mesh_event *ev)
{
	struct http_call *c = ev->stream_user;
	struct mesh_conn *prev = hc->ev_conn;

	if (c == NULL || c->ms != ev->stream)
		return;
	hc->ev_conn = ev->conn;
	switch (ev->type) {
	case MESH_EV_RESPONSE:
		on_response(c, ev);
		break;
	case MESH_EV_REFUSED:
		on_refused(c, ev);
		break;
	case MESH_EV_RESET:
		on_reset(c, ev);
		break;
	case MESH_EV_READABLE:
		if (c->state == CALL_ANSWERED) {
			c->last_ms = now_ms(c);
			if (c->sink.on_readable)
				c->sink.on_readable(c->sink.ctx);
		}
		break;
	case MESH_EV_WRITABLE:
		on_writable(c);
		break;
	default:
		break;
	}
	hc->ev_conn = prev;
}
