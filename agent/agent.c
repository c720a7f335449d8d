/* weftd's lifecycle: start, join, reload, leave. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/agent.h"
#include "agent/handlers.h"
#include "agent/health.h"
#include "agent/notify.h"
#include "agent/proxy_io.h"
#include "common/err.h"

#define JOIN_FIRST_RETRY_MS 1000
#define LEAVE_WAIT_MS 1500

int64_t
agent_now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

int64_t
agent_now_ms(const struct agent *a)
{
	return a->wall_base_ms + (int64_t)(uv_now(a->loop) - a->uv_base_ms);
}

/* The gossip view of the configured services; strings stay the config's. */
struct svc_view {
	struct gossip_service *svcs;
	size_t n;
};

static int
services_view(const struct agent_config *c, struct svc_view *v)
{
	v->n = c->n_services;
	v->svcs = calloc(v->n ? v->n : 1, sizeof(*v->svcs));
	if (v->svcs == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < v->n; i++) {
		const struct agent_service *s = &c->services[i];

		v->svcs[i] = (struct gossip_service){
			.name = s->name,
			.port = s->port,
			.weight = (uint16_t)s->weight,
			.health = 1,
			.tags = (const char *const *)s->tags,
			.n_tags = s->n_tags,
			.labels = (const char *const *)s->labels,
			.n_labels = s->n_labels,
		};
	}
	return 0;
}

/* Each service's health from its checks, and maintenance tags. */
static void
services_health(struct agent *a, const struct agent_config *c,
                struct svc_view *v)
{
	for (size_t i = 0; i < v->n; i++)
		agent_health_decorate(a, &v->svcs[i], c->services[i].n_checks);
}

int
agent_publish_services(struct agent *a)
{
	const struct gossip_record *rec;
	enum gossip_state st;
	struct svc_view v;
	int rc;

	if (a->leaving)
		return 0;
	rc = services_view(&a->cfg, &v);
	if (rc)
		return rc;
	services_health(a, &a->cfg, &v);
	rc = gossip_set_services(a->g, agent_now_ms(a), v.svcs, v.n);
	free(v.svcs);
	agent_flush(a);
	if (rc == 0 && gossip_member_get(a->g, gossip_self_id(a->g), &st,
	                                 &rec) == 0)
		agent_health_watch(a, rec, false);
	return rc;
}

static void
tune(struct gossip_config *gc, const struct agent_gossip_tuning *t,
     int64_t skew_s)
{
	if (t->probe_interval_ms)
		gc->probe_interval_ms = t->probe_interval_ms;
	if (t->probe_timeout_ms)
		gc->probe_timeout_ms = t->probe_timeout_ms;
	if (t->gossip_interval_ms)
		gc->gossip_interval_ms = t->gossip_interval_ms;
	if (t->pushpull_interval_ms)
		gc->pushpull_interval_ms = t->pushpull_interval_ms;
	if (t->reap_after_ms)
		gc->reap_after_ms = t->reap_after_ms;
	if (t->suspicion_mult)
		gc->suspicion_mult = (unsigned)t->suspicion_mult;
	if (t->suspicion_max_mult)
		gc->suspicion_max_mult = (unsigned)t->suspicion_max_mult;
	if (t->indirect_checks)
		gc->indirect_checks = (unsigned)t->indirect_checks;
	if (t->fanout)
		gc->fanout = (unsigned)t->fanout;
	if (t->retransmit_mult)
		gc->retransmit_mult = (unsigned)t->retransmit_mult;
	gc->cert_skew_s = skew_s;
}

static void
on_gossip_event(void *ctx, const struct gossip_event *ev)
{
	struct agent *a = ctx;

	if (ev->rec) {
		char addr[72];

		agent_addr_format(&ev->rec->addr, addr, sizeof(addr));
		weft_logf(&a->log,
		          ev->kind == GOSSIP_EV_FAILED ? WEFT_LOG_WARN
		                                       : WEFT_LOG_INFO,
		          "msg=\"member %s\" node=%s addr=%s incarnation=%u",
		          gossip_event_name(ev->kind), ev->rec->name, addr,
		          ev->rec->incarnation);
	} else if (ev->obj) {
		weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"object %s\" kind=%u "
		          "name=\"%s\"", gossip_event_name(ev->kind),
		          ev->obj->kind, ev->obj->name);
	}
	agent_handlers_event(a, ev);
	agent_proxy_mark_dirty(a);
	if (ev->rec)
		agent_snapshot_mark(a);
}

static int
alive_others(const struct agent *a)
{
	return (int)gossip_member_count(a->g, GOSSIP_ALIVE) +
	       (int)gossip_member_count(a->g, GOSSIP_SUSPECT) - 1;
}

/* Seeds from the config and, after a restart, from the snapshot. */
static int
join_targets(struct agent *a, struct gossip_addr **out, size_t *n)
{
	struct gossip_addr *snap = NULL, *all;
	size_t n_snap = 0;

	agent_snapshot_load(a, &snap, &n_snap);
	all = calloc(a->cfg.n_join + n_snap + 1, sizeof(*all));
	if (all == NULL) {
		free(snap);
		return WEFT_ENOMEM;
	}
	*n = 0;
	for (size_t i = 0; i < a->cfg.n_join; i++)
		if (agent_addr_from_hostport(&a->cfg.join[i], &all[*n]) == 0)
			(*n)++;
	for (size_t i = 0; i < n_snap; i++)
		if (!gossip_addr_eq(&snap[i], &a->self_addr))
			all[(*n)++] = snap[i];
	free(snap);
	*out = all;
	return 0;
}

static void
on_join_timer(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct gossip_addr *seeds = NULL;
	size_t n = 0;

	if (a->leaving)
		return;
	if (alive_others(a) > 0) {
		if (!a->join_ok)
			weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"joined\" "
			          "members=%d", alive_others(a) + 1);
		a->join_ok = true;
		a->join_backoff_ms = JOIN_FIRST_RETRY_MS;
		/* Keep watching: alone again later (a partition, every peer
		 * restarted) means joining again. */
		uv_timer_start(&a->join_timer, on_join_timer, 5000, 0);
		return;
	}
	if (join_targets(a, &seeds, &n) == 0 && n > 0) {
		weft_logf(&a->log, a->join_ok ? WEFT_LOG_INFO : WEFT_LOG_DEBUG,
		          "msg=\"joining\" seeds=%zu retry_in_ms=%lld", n,
		          (long long)a->join_backoff_ms);
		gossip_join(a->g, agent_now_ms(a), seeds, n);
		agent_flush(a);
	}
	free(seeds);
	uv_timer_start(&a->join_timer, on_join_timer,
	               (uint64_t)a->join_backoff_ms, 0);
	a->join_backoff_ms *= 2;
	if (a->join_backoff_ms > a->cfg.retry_join_max_ms)
		a->join_backoff_ms = a->cfg.retry_join_max_ms;
}

int
agent_join(struct agent *a, const struct gossip_addr *seeds, size_t n)
{
	int rc = gossip_join(a->g, agent_now_ms(a), seeds, n);

	agent_flush(a);
	return rc;
}

static void
on_watchdog(uv_timer_t *t)
{
	(void)t;
	agent_notify("WATCHDOG=1");
}

static void
close_all(struct agent *a)
{
	uv_timer_stop(&a->join_timer);
	uv_close((uv_handle_t *)&a->join_timer, NULL);
	uv_close((uv_handle_t *)&a->snap_timer, NULL);
	uv_close((uv_handle_t *)&a->watchdog, NULL);
	uv_close((uv_handle_t *)&a->leave_timer, NULL);
	uv_close((uv_handle_t *)&a->sig_term, NULL);
	uv_close((uv_handle_t *)&a->sig_int, NULL);
	uv_close((uv_handle_t *)&a->sig_hup, NULL);
	agent_health_stop(a);
	agent_expiry_stop(a);
	agent_metrics_stop(a);
	agent_handlers_stop(a);
	agent_proxy_stop(a);
	agent_streams_close(a);
	agent_gossip_io_stop(a);
}

static void
on_left(uv_timer_t *t)
{
	struct agent *a = t->data;

	agent_snapshot_write(a);
	weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"left the cluster\"");
	close_all(a);
}

void
agent_begin_leave(struct agent *a)
{
	if (a->leaving)
		return;
	a->leaving = true;
	agent_notify("STOPPING=1");
	weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"leaving\"");
	gossip_leave(a->g, agent_now_ms(a));
	agent_flush(a);
	/* Long enough for a few gossip rounds to carry the intent. */
	uv_timer_start(&a->leave_timer, on_left, LEAVE_WAIT_MS, 0);
}

static int
reload(struct agent *a, char *err, size_t cap)
{
	struct agent_config nc;
	struct agent_config_err cerr;
	struct agent_identity nid;
	struct svc_view v;
	bool maddr_changed;
	int rc;

	rc = agent_config_load(&a->sources, &nc, &cerr);
	if (rc) {
		snprintf(err, cap, "%s", cerr.msg);
		agent_config_free(&nc);
		return rc;
	}
	if (strcmp(nc.node_name, a->cfg.node_name) != 0 ||
	    memcmp(&nc.bind, &a->cfg.bind, sizeof(nc.bind)) != 0) {
		snprintf(err, cap, "node_name and bind cannot change on reload; "
		         "restart weftd");
		agent_config_free(&nc);
		return WEFT_EINVAL;
	}
	rc = agent_identity_load(&nc, agent_now_unix(), &nid, err, cap);
	if (rc) {
		agent_config_free(&nc);
		return rc;
	}
	/* The gossip core signs records with the running key and names
	 * this node by its id: a new key needs a restart. */
	if (memcmp(nid.key.id, a->id.key.id, KEY_ID_LEN) != 0) {
		snprintf(err, cap, "the new certificate is for another key; a "
		         "new key needs a restart of weftd");
		agent_identity_free(&nid);
		agent_config_free(&nc);
		return WEFT_EINVAL;
	}
	/* A renewed certificate for the same key: the record is re-signed
	 * with it and spread, so every member learns the new end. */
	if (nid.cert.encoded_len != a->id.cert.encoded_len ||
	    memcmp(nid.cert.encoded, a->id.cert.encoded,
	           nid.cert.encoded_len) != 0) {
		rc = gossip_set_cert(a->g, agent_now_ms(a), nid.cert.encoded,
		                     nid.cert.encoded_len);
		if (rc) {
			snprintf(err, cap, "the new certificate was refused: %s",
			         gossip_get_stats(a->g)->last_reason
			             ? gossip_get_stats(a->g)->last_reason
			             : weft_strerror(rc));
			agent_identity_free(&nid);
			agent_config_free(&nc);
			return rc;
		}
		weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"certificate renewed\" "
		          "not_after=%lld", (long long)nid.cert.not_after);
	}
	rc = services_view(&nc, &v);
	if (rc == 0)
		services_health(a, &nc, &v);
	if (rc == 0)
		rc = gossip_set_services(a->g, agent_now_ms(a), v.svcs, v.n);
	free(v.svcs);
	if (rc) {
		snprintf(err, cap, "services refused: %s", weft_strerror(rc));
		agent_identity_free(&nid);
		agent_config_free(&nc);
		return rc;
	}
	/* Streams already open keep the identity they authenticated with;
	 * new ones use the new certificate. */
	agent_identity_free(&a->id);
	a->id = nid;
	a->crypto_ctx.skew_s = nc.cert_skew_s;
	agent_proxy_identity_changed(a);
	maddr_changed = nc.has_metrics_addr != a->cfg.has_metrics_addr ||
	                memcmp(&nc.metrics_addr, &a->cfg.metrics_addr,
	                       sizeof(nc.metrics_addr)) != 0;
	agent_config_free(&a->cfg);
	a->cfg = nc;
	agent_flush(a);
	agent_health_reload(a);
	agent_expiry_check(a);
	if (maddr_changed) {
		agent_metrics_unlisten(a);
		agent_metrics_listen(a);
	}
	agent_proxy_mark_dirty(a);
	return 0;
}

int
agent_reload(struct agent *a, char *err, size_t cap)
{
	int rc = reload(a, err, cap);

	if (rc)
		a->reload_failures++;
	else
		a->reloads++;
	return rc;
}

static void
on_signal(uv_signal_t *s, int signum)
{
	struct agent *a = s->data;

	if (signum == SIGHUP) {
		char err[512];

		if (agent_reload(a, err, sizeof(err)) == 0)
			weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"reloaded\"");
		else
			weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"reload refused, "
			          "keeping the running configuration\" "
			          "reason=\"%s\"", err);
		return;
	}
	agent_begin_leave(a);
}

static int
ensure_dir(const char *path)
{
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : WEFT_EEXIST;
	return mkdir(path, 0700) == 0 ? 0 : WEFT_EIO;
}

int
agent_start(struct agent *a, uv_loop_t *loop)
{
	struct gossip_config gc;
	struct gossip_identity gid;
	struct agent_hostport adv;
	struct gossip_callbacks cb = {on_gossip_event, a};
	struct svc_view v;
	char err[512];
	int rc;

	a->loop = loop;
	a->uv_base_ms = uv_now(loop);
	{
		struct timespec ts;

		/* Milliseconds, not a whole second: event times and the
		 * core's clock would otherwise read up to 1 s early. */
		clock_gettime(CLOCK_REALTIME, &ts);
		a->wall_base_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	}
	a->started_unix = agent_now_unix();
	a->join_backoff_ms = JOIN_FIRST_RETRY_MS;
	list_init(&a->streams);
	/* Before any part registers its metrics collector. */
	metrics_init(&a->metrics);

	rc = agent_identity_load(&a->cfg, agent_now_unix(), &a->id, err,
	                         sizeof(err));
	if (rc) {
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"identity refused\" "
		          "reason=\"%s\"", err);
		return rc;
	}
	if (ensure_dir(a->cfg.data_dir) != 0) {
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"cannot use data dir\" "
		          "path=%s", a->cfg.data_dir);
		return WEFT_EIO;
	}
	adv = a->cfg.bind;
	if (a->cfg.advertise)
		snprintf(adv.host, sizeof(adv.host), "%s", a->cfg.advertise);
	agent_addr_from_hostport(&adv, &a->self_addr);
	agent_addr_from_hostport(&a->cfg.mesh_bind, &a->mesh_addr);

	gossip_config_default(&gc, GOSSIP_PROFILE_WEFT);
	tune(&gc, &a->cfg.gossip, a->cfg.cert_skew_s);
	a->crypto_ctx.key = &a->id.key;
	a->crypto_ctx.bundle = &a->id.bundle;
	a->crypto_ctx.skew_s = a->cfg.cert_skew_s;
	gossip_crypto_real(&a->crypto, &a->crypto_ctx);
	rc = agent_health_start(a);
	if (rc == 0)
		rc = services_view(&a->cfg, &v);
	if (rc)
		return rc;
	services_health(a, &a->cfg, &v);
	gid = (struct gossip_identity){
		.name = a->cfg.node_name,
		.addr = a->self_addr,
		.mesh_addr = a->mesh_addr,
		.services = v.svcs,
		.n_services = v.n,
		.cert = a->id.cert.encoded,
		.cert_len = a->id.cert.encoded_len,
	};
	{
		struct gossip_addr *unused;
		size_t n_unused;

		/* Read the last incarnation before the core starts, so that
		 * rumours of this node's death from before are refuted. */
		if (agent_snapshot_load(a, &unused, &n_unused) == 0)
			free(unused);
		gid.incarnation = a->last_incarnation + 1;
	}
	rc = gossip_new(&a->g, &gc, &gid, &a->crypto, &key_system_rng, &cb,
	                agent_now_ms(a));
	free(v.svcs);
	if (rc) {
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"gossip refused the "
		          "identity\" error=\"%s\"", weft_strerror(rc));
		return rc;
	}
	a->revoked.is_revoked = agent_is_revoked;
	a->revoked.ctx = a;
	rc = agent_gossip_io_start(a);
	if (rc == 0)
		rc = agent_stream_listen(a);
	if (rc == 0)
		rc = agent_proxy_start(a);
	if (rc == 0)
		rc = agent_handlers_start(a);
	if (rc == 0)
		rc = agent_metrics_start(a);
	if (rc)
		return rc;
	agent_expiry_start(a);

	uv_timer_init(loop, &a->join_timer);
	uv_timer_init(loop, &a->snap_timer);
	uv_timer_init(loop, &a->watchdog);
	uv_timer_init(loop, &a->leave_timer);
	a->join_timer.data = a->snap_timer.data = a;
	a->watchdog.data = a->leave_timer.data = a;
	uv_signal_init(loop, &a->sig_term);
	uv_signal_init(loop, &a->sig_int);
	uv_signal_init(loop, &a->sig_hup);
	a->sig_term.data = a->sig_int.data = a->sig_hup.data = a;
	uv_signal_start(&a->sig_term, on_signal, SIGTERM);
	uv_signal_start(&a->sig_int, on_signal, SIGINT);
	uv_signal_start(&a->sig_hup, on_signal, SIGHUP);

	{
		char addr[72];

		agent_addr_format(&a->self_addr, addr, sizeof(addr));
		weft_logf(&a->log, WEFT_LOG_INFO, "msg=\"started\" node=%s "
		          "gossip=%s socket=%s", a->cfg.node_name, addr,
		          a->cfg.socket);
	}
	on_join_timer(&a->join_timer);
	agent_flush(a);
	if (agent_notify_watchdog_usec())
		uv_timer_start(&a->watchdog, on_watchdog, 0,
		               agent_notify_watchdog_usec() / 2000);
	/* Bound and joining (or retrying): ready in systemd's sense. */
	agent_notify("READY=1");
	return 0;
}
