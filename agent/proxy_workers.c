/*
 * The data plane's workers (agent/proxy_workers.h): how many, their
 * threads and loops, and what the main thread hands them.
 *
 * The main thread owns gossip, so it builds every routing snapshot and
 * posts it to each worker's mailbox; a worker swaps it in on its own
 * loop.  Renewed identities travel the same way, one deep copy per
 * worker.  Monitor events go the other way, through a queue the main
 * loop drains.  Nothing else crosses threads but the metrics (locked or
 * atomic) and the circuit limits (atomic).
 */
#include <errno.h>
#include <jansson.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "agent/agent.h"
#include "agent/api_server.h"
#include "agent/identity.h"
#include "agent/metrics.h"
#include "agent/proxy_io.h"
#include "agent/proxy_metrics.h"
#include "agent/proxy_workers.h"
#include "agent/tables.h"
#include "common/err.h"
#include "crypto/key.h"
#include "gossip/gossip.h"
#include "proxy/circuit.h"
#include "proxy/table.h"

#define REBUILD_DELAY_MS 50
#define MAX_EVENTS_QUEUED 1024
#define MAX_EJECTIONS_QUEUED 64

struct shared_ejection {
	char service[64];
	uint8_t key_id[KEY_ID_LEN];
	uint16_t port;
	int64_t for_ms;
};

struct slot {
	struct proxy_workers *set;
	struct agent_proxy *px;
	uv_loop_t *loop;     /* the agent's for worker 0, else own_loop */
	uv_loop_t own_loop;
	bool threaded;
	bool running;        /* its thread was started */
	uv_thread_t thread;
	uv_async_t mail;
	/* The mailbox, under set->mu: the newest of each kind wins. */
	struct table *table;
	struct agent_identity *id;
	int64_t skew_s;
	struct shared_ejection ejections[MAX_EJECTIONS_QUEUED];
	size_t n_ejections;
	bool stop;
};

struct shared_circuit {
	const void *key;
	struct circuit c;
};

struct proxy_workers {
	struct agent *a;
	unsigned n;
	struct slot *slots;
	struct agent_proxy **w; /* slots[i].px, for metrics */
	uv_mutex_t mu;
	uint64_t version;
	uv_timer_t rebuild;
	uv_async_t events;
	json_t **evq;           /* under mu */
	size_t n_ev;
	uint64_t ev_dropped;
	int heard;              /* atomic */
	struct proxy_metrics *pm;
	struct shared_circuit **circuits; /* main thread, while starting */
	size_t n_circuits;
	struct sockaddr_storage *bound;   /* main thread, while starting */
	size_t n_bound;
	bool started;   /* handles initialised */
	bool stopping;
};

/* ---- what workers ask of the set ---- */

bool
proxy_workers_heard(const struct proxy_workers *set)
{
	return __atomic_load_n(&set->heard, __ATOMIC_RELAXED) != 0;
}

struct circuit *
proxy_workers_circuit(struct proxy_workers *set, const void *key,
                      const struct circuit_limits *lim)
{
	struct shared_circuit **n, *sc;

	for (size_t i = 0; i < set->n_circuits; i++)
		if (set->circuits[i]->key == key)
			return &set->circuits[i]->c;
	n = realloc(set->circuits, (set->n_circuits + 1) * sizeof(*n));
	if (n == NULL)
		return NULL;
	set->circuits = n;
	if ((sc = calloc(1, sizeof(*sc))) == NULL)
		return NULL;
	sc->key = key;
	circuit_init(&sc->c, lim);
	set->circuits[set->n_circuits++] = sc;
	return &sc->c;
}

bool
proxy_workers_first_bind(struct proxy_workers *set, const struct sockaddr *sa)
{
	struct sockaddr_storage ss = {0}, *n;
	size_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                       : sizeof(struct sockaddr_in);

	memcpy(&ss, sa, len);
	for (size_t i = 0; i < set->n_bound; i++)
		if (memcmp(&set->bound[i], &ss, sizeof(ss)) == 0)
			return false;
	n = realloc(set->bound, (set->n_bound + 1) * sizeof(*n));
	if (n != NULL) {
		set->bound = n;
		set->bound[set->n_bound++] = ss;
	}
	return true;
}

void
proxy_workers_post_event(struct proxy_workers *set, json_t *ev)
{
	/* Sent under the lock: once stopping is set, the handle is
	 * closing and nobody sends to it any more. */
	uv_mutex_lock(&set->mu);
	if (set->stopping || set->n_ev == MAX_EVENTS_QUEUED) {
		set->ev_dropped++;
		json_decref(ev);
	} else {
		set->evq[set->n_ev++] = ev;
		uv_async_send(&set->events);
	}
	uv_mutex_unlock(&set->mu);
}

void
proxy_workers_share_ejection(struct proxy_workers *set, unsigned from,
                             const char *service, const uint8_t *key_id,
                             uint16_t port, int64_t for_ms)
{
	uv_mutex_lock(&set->mu);
	for (unsigned i = 0; i < set->n && !set->stopping; i++) {
		struct slot *s = &set->slots[i];
		struct shared_ejection *e;

		if (i == from || s->px == NULL || s->stop ||
		    s->n_ejections == MAX_EJECTIONS_QUEUED)
			continue;
		e = &s->ejections[s->n_ejections++];
		snprintf(e->service, sizeof(e->service), "%s", service);
		memcpy(e->key_id, key_id, KEY_ID_LEN);
		e->port = port;
		e->for_ms = for_ms;
		uv_async_send(&s->mail);
	}
	uv_mutex_unlock(&set->mu);
}

/* Main loop: the queued events to `weft monitor` clients. */
static void
on_events(uv_async_t *h)
{
	struct proxy_workers *set = h->data;
	json_t *batch[MAX_EVENTS_QUEUED];
	size_t n;

	uv_mutex_lock(&set->mu);
	n = set->n_ev;
	memcpy(batch, set->evq, n * sizeof(*batch));
	set->n_ev = 0;
	uv_mutex_unlock(&set->mu);
	for (size_t i = 0; i < n; i++) {
		if (set->a->api != NULL)
			api_server_broadcast_event(set->a->api, batch[i]);
		json_decref(batch[i]);
	}
}

/* ---- the mailbox ---- */

static void
on_mail(uv_async_t *h)
{
	struct slot *s = h->data;
	struct proxy_workers *set = s->set;
	struct table *t;
	struct agent_identity *id;
	struct shared_ejection ej[MAX_EJECTIONS_QUEUED];
	size_t n_ej;
	int64_t skew_s;
	bool stop;

	uv_mutex_lock(&set->mu);
	t = s->table;
	id = s->id;
	skew_s = s->skew_s;
	stop = s->stop;
	n_ej = s->n_ejections;
	memcpy(ej, s->ejections, n_ej * sizeof(ej[0]));
	s->n_ejections = 0;
	s->table = NULL;
	s->id = NULL;
	uv_mutex_unlock(&set->mu);
	if (id != NULL) {
		agent_proxy_worker_set_identity(s->px, id, skew_s);
		free(id);
	}
	if (t != NULL)
		agent_proxy_worker_set_table(s->px, t);
	for (size_t i = 0; i < n_ej && !stop; i++)
		agent_proxy_worker_eject(s->px, ej[i].service, ej[i].key_id,
		                         ej[i].port, ej[i].for_ms);
	if (stop) {
		agent_proxy_worker_stop(s->px);
		uv_close((uv_handle_t *)&s->mail, NULL);
	}
}

/* Main thread: hands t to every worker (a reference each). */
static void
publish_table(struct proxy_workers *set, struct table *t)
{
	uv_mutex_lock(&set->mu);
	for (unsigned i = 0; i < set->n; i++) {
		struct slot *s = &set->slots[i];

		if (s->px == NULL || s->stop)
			continue;
		if (s->table != NULL)
			table_unref(s->table);
		s->table = table_ref(t);
	}
	uv_mutex_unlock(&set->mu);
	for (unsigned i = 0; i < set->n; i++)
		if (set->slots[i].px != NULL)
			uv_async_send(&set->slots[i].mail);
}

static int
build_table(struct proxy_workers *set, struct table **out)
{
	struct agent *a = set->a;
	char err[256];
	int rc;

	rc = agent_tables_build(a, ++set->version, out, err, sizeof(err));
	if (rc)
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"routing table "
		          "refused, keeping the previous one\" reason=\"%s\"", err);
	/* A restart begins with names and addresses only: until a
	 * push-pull has brought records, a missing service is not known to
	 * be missing. */
	if (gossip_get_stats(a->g)->streams_in > 0)
		__atomic_store_n(&set->heard, 1, __ATOMIC_RELAXED);
	return rc;
}

static void
on_rebuild(uv_timer_t *t)
{
	struct proxy_workers *set = t->data;
	struct table *nt;

	if (build_table(set, &nt) != 0)
		return;
	publish_table(set, nt);
	table_unref(nt);
}

void
agent_proxy_mark_dirty(struct agent *a)
{
	struct proxy_workers *set = a->proxy;

	if (set == NULL || !set->started || set->stopping)
		return;
	if (gossip_get_stats(a->g)->streams_in > 0)
		__atomic_store_n(&set->heard, 1, __ATOMIC_RELAXED);
	if (uv_is_active((uv_handle_t *)&set->rebuild))
		return;
	/* Many events arrive together (a push-pull merges a whole state):
	 * one rebuild for all of them. */
	uv_timer_start(&set->rebuild, on_rebuild, REBUILD_DELAY_MS, 0);
}

void
agent_proxy_identity_changed(struct agent *a)
{
	struct proxy_workers *set = a->proxy;

	if (set == NULL || set->stopping)
		return;
	for (unsigned i = 0; i < set->n; i++) {
		struct slot *s = &set->slots[i];
		struct agent_identity *id;

		if (s->px == NULL)
			continue;
		id = calloc(1, sizeof(*id));
		if (id == NULL || agent_identity_copy(&a->id, id) != 0) {
			/* Keeps presenting the old certificate until the
			 * next reload; say so. */
			free(id);
			weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"data-plane worker "
			          "keeps the previous certificate\" worker=%u "
			          "reason=\"out of memory\"", i);
			continue;
		}
		uv_mutex_lock(&set->mu);
		if (s->id != NULL) {
			agent_identity_free(s->id);
			free(s->id);
		}
		s->id = id;
		s->skew_s = a->cfg.cert_skew_s;
		uv_mutex_unlock(&set->mu);
		uv_async_send(&s->mail);
	}
}

/* ---- metrics ---- */

static void
collect(void *ctx, struct metrics_writer *w)
{
	struct proxy_workers *set = ctx;

	agent_proxy_workers_collect(set->w, set->n, w);
}

/* ---- start, stop, free ---- */

static void
run_worker(void *arg)
{
	struct slot *s = arg;

	uv_run(s->loop, UV_RUN_DEFAULT);
}

static unsigned
worker_count(const struct agent *a)
{
	unsigned n = a->cfg.proxy_workers;

	if (n == 0)
		n = uv_available_parallelism();
	if (n == 0)
		n = 1;
	return n > AGENT_MAX_PROXY_WORKERS ? AGENT_MAX_PROXY_WORKERS : n;
}

int
agent_proxy_start(struct agent *a)
{
	struct proxy_workers *set = calloc(1, sizeof(*set));
	struct table *t = NULL;
	int rc;

	if (set == NULL)
		return WEFT_ENOMEM;
	a->proxy = set;
	set->a = a;
	set->n = worker_count(a);
	set->slots = calloc(set->n, sizeof(*set->slots));
	set->w = calloc(set->n, sizeof(*set->w));
	set->evq = calloc(MAX_EVENTS_QUEUED, sizeof(*set->evq));
	if (set->slots == NULL || set->w == NULL || set->evq == NULL ||
	    uv_mutex_init(&set->mu) != 0) {
		free(set->evq);
		set->evq = NULL;
		return WEFT_ENOMEM;
	}
	uv_timer_init(a->loop, &set->rebuild);
	set->rebuild.data = set;
	uv_async_init(a->loop, &set->events, on_events);
	set->events.data = set;
	set->started = true;
	rc = proxy_metrics_new(&set->pm);
	if (rc == 0)
		rc = build_table(set, &t);
	if (rc)
		return rc == WEFT_ENOMEM ? rc : WEFT_EINVAL;
	for (unsigned i = 0; i < set->n && rc == 0; i++) {
		struct slot *s = &set->slots[i];

		s->set = set;
		if (i == 0) {
			s->loop = a->loop;
		} else {
			if (uv_loop_init(&s->own_loop) != 0) {
				rc = WEFT_ENOMEM;
				break;
			}
			s->loop = &s->own_loop;
			s->threaded = true;
		}
		uv_async_init(s->loop, &s->mail, on_mail);
		s->mail.data = s;
		rc = agent_proxy_worker_new(&(struct proxy_worker_init){
			.a = a,
			.set = set,
			.index = i,
			.loop = s->loop,
			.table = t,
			.pm = set->pm,
		}, &s->px);
		set->w[i] = s->px;
	}
	table_unref(t);
	if (rc)
		return rc;
	metrics_register(&a->metrics, "proxy", collect, set);
	metrics_register(&a->metrics, "proxy_services", proxy_metrics_collect,
	                 set->pm);
#ifdef __GLIBC__
	/* An arena per worker: one shared arena's lock would be taken by
	 * every worker for every allocation. */
	mallopt(M_ARENA_MAX, (int)set->n);
#endif
	for (unsigned i = 1; i < set->n; i++) {
		struct slot *s = &set->slots[i];

		if (uv_thread_create(&s->thread, run_worker, s) != 0) {
			weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"cannot start a "
			          "data-plane worker thread\" worker=%u", i);
			return WEFT_EIO;
		}
		s->running = true;
	}
	weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"data plane started\" "
	          "workers=%u", set->n);
	return 0;
}

void
agent_proxy_stop(struct agent *a)
{
	struct proxy_workers *set = a->proxy;

	if (set == NULL || !set->started || set->stopping)
		return;
	metrics_unregister(&a->metrics, set);
	metrics_unregister(&a->metrics, set->pm);
	uv_mutex_lock(&set->mu);
	set->stopping = true;
	for (unsigned i = 0; i < set->n; i++)
		set->slots[i].stop = true;
	uv_mutex_unlock(&set->mu);
	for (unsigned i = 0; i < set->n; i++)
		if (set->slots[i].loop != NULL)
			uv_async_send(&set->slots[i].mail);
	uv_timer_stop(&set->rebuild);
	uv_close((uv_handle_t *)&set->rebuild, NULL);
	uv_close((uv_handle_t *)&set->events, NULL);
}

/* A worker with no thread running: worker 0 (already stopped on the
 * agent's loop, unless the start failed), or one whose thread never
 * started.  Stop it here and let its loop close what it can. */
static void
stop_unstarted(struct slot *s)
{
	if (uv_is_closing((uv_handle_t *)&s->mail))
		return;
	if (s->px != NULL)
		agent_proxy_worker_stop(s->px);
	uv_close((uv_handle_t *)&s->mail, NULL);
	uv_run(s->loop, s->threaded ? UV_RUN_DEFAULT : UV_RUN_NOWAIT);
}

void
agent_proxy_free(struct agent *a)
{
	struct proxy_workers *set = a->proxy;

	if (set == NULL)
		return;
	/* A start that failed half-way was never stopped. */
	agent_proxy_stop(a);
	for (unsigned i = 0; set->slots != NULL && i < set->n; i++) {
		struct slot *s = &set->slots[i];

		if (s->loop == NULL)
			continue;
		if (s->running)
			uv_thread_join(&s->thread);
		else
			stop_unstarted(s);
		if (s->threaded)
			uv_loop_close(&s->own_loop);
		agent_proxy_worker_free(s->px);
		if (s->table != NULL)
			table_unref(s->table);
		if (s->id != NULL) {
			agent_identity_free(s->id);
			free(s->id);
		}
	}
	for (size_t i = 0; i < set->n_ev; i++)
		json_decref(set->evq[i]);
	for (size_t i = 0; i < set->n_circuits; i++)
		free(set->circuits[i]);
	free(set->circuits);
	free(set->bound);
	proxy_metrics_free(set->pm);
	if (set->evq != NULL)
		uv_mutex_destroy(&set->mu);
	free(set->evq);
	free(set->slots);
	free(set->w);
	free(set);
	a->proxy = NULL;
}
