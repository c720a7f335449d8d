/* Health checks: their state, scheduling, maintenance and publishing
 * (health.h).  The runs themselves are in health_run.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "agent/api_server.h"
#include "agent/health_int.h"
#include "agent/metrics.h"
#include "common/err.h"
#include "common/file.h"

/* The first run comes soon after start, not a whole interval later. */
#define FIRST_RUN_MS 200
/* ---- services ---- */

static struct hsvc *
svc_find(struct health *h, const char *name)
{
	for (size_t i = 0; i < h->n_svcs; i++)
		if (strcmp(h->svcs[i].name, name) == 0)
			return &h->svcs[i];
	return NULL;
}

static void
svcs_free(struct hsvc *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(v[i].name);
		free(v[i].maint_tag);
		free(v[i].tagv);
	}
	free(v);
}

static enum health_status
svc_health(struct health *h, const char *name, size_t *n_checks)
{
	enum health_status worst = HEALTH_UNKNOWN;
	struct list *p;

	*n_checks = 0;
	list_foreach(p, &h->checks) {
		struct hcheck *c = list_entry(p, struct hcheck, link);

		if (strcmp(c->service, name) != 0)
			continue;
		(*n_checks)++;
		if (c->f.state > worst)
			worst = c->f.state;
	}
	return *n_checks ? worst : HEALTH_PASSING;
}

void
agent_health_decorate(struct agent *a, struct gossip_service *svc,
                      size_t n_checks)
{
	struct health *h = a->health;
	struct hsvc *s = h ? svc_find(h, svc->name) : NULL;
	size_t n;
	const char **v;

	if (s == NULL) {
		svc->health = n_checks ? HEALTH_UNKNOWN : HEALTH_PASSING;
		return;
	}
	svc->health = (uint8_t)svc_health(h, svc->name, &n);
	if (n == 0 && n_checks)
		svc->health = HEALTH_UNKNOWN; /* checks of a reload to come */
	s->published = svc->health;
	s->published_maint = s->maint;
	if (!s->maint)
		return;
	svc->health = HEALTH_CRITICAL;
	free(s->maint_tag);
	free(s->tagv);
	s->tagv = NULL;
	n = strlen(HEALTH_MAINT_TAG_PREFIX) + strlen(s->reason) + 1;
	s->maint_tag = malloc(n);
	v = calloc(svc->n_tags + 1, sizeof(*v));
	if (s->maint_tag == NULL || v == NULL) {
		/* Still critical, so still out of rotation. */
		free(v);
		return;
	}
	snprintf(s->maint_tag, n, "%s%s", HEALTH_MAINT_TAG_PREFIX, s->reason);
	for (size_t i = 0; i < svc->n_tags; i++)
		v[i] = svc->tags[i];
	v[svc->n_tags] = s->maint_tag;
	s->tagv = v;
	svc->tags = v;
	svc->n_tags++;
}

/* Publishes when some service's health or maintenance differs from what
 * the record says. */
static void
maybe_publish(struct health *h)
{
	for (size_t i = 0; i < h->n_svcs; i++) {
		struct hsvc *s = &h->svcs[i];
		size_t n;
		enum health_status st = svc_health(h, s->name, &n);

		if ((uint8_t)st != s->published || s->maint != s->published_maint) {
			int rc = agent_publish_services(h->a);

			if (rc)
				weft_logf(&h->a->log, WEFT_LOG_ERROR, "msg=\"cannot "
				          "publish health\" error=\"%s\"",
				          weft_strerror(rc));
			return;
		}
	}
}

/* ---- checks ---- */

static void
event_check(struct health *h, const struct hcheck *c, enum health_status old)
{
	struct agent *a = h->a;
	json_t *j;

	weft_logf(&a->log, c->f.state == HEALTH_PASSING ? WEFT_LOG_INFO
	                                                 : WEFT_LOG_WARN,
	          "msg=\"check %s\" check=%s service=%s previous=%s "
	          "output=\"%.120s\"", health_status_name(c->f.state), c->id,
	          c->service, health_status_name(old), c->output);
	j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "time_ms",
	              (json_int_t)agent_now_ms(a), "type", "check", "event",
	              health_status_name(c->f.state), "name", c->id, "service",
	              c->service, "node", a->cfg.node_name, "previous",
	              health_status_name(old), "output", c->output);
	if (j && a->api)
		api_server_broadcast_event(a->api, j);
	json_decref(j);
}

/* Output for people and JSON: printable, valid UTF-8 not needed. */
static void
set_output(struct hcheck *c, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i + 1 < sizeof(c->output); i++) {
		unsigned char ch = (unsigned char)s[i];

		c->output[i] = (ch < 0x20 && ch != '\n') || ch >= 0x7f ? '?'
		                                                       : (char)ch;
	}
	c->output[i] = '\0';
	if (s[i] && i >= 4)
		memcpy(c->output + i - 3, "...", 3);
}

static void
apply(struct hcheck *c, enum health_status s, const char *output,
      bool direct)
{
	struct health *h = c->h;
	enum health_status old = c->f.state;
	bool changed;

	set_output(c, output);
	c->last_run_ms = agent_now_ms(h->a);
	c->results[s & 3]++;
	if (direct) {
		c->f.ok_streak = c->f.bad_streak = 0;
		changed = c->f.state != s;
		c->f.state = s;
	} else {
		changed = health_filter_apply(&c->f, s, c->need_ok, c->need_bad);
	}
	if (!changed)
		return;
	c->last_change_ms = c->last_run_ms;
	event_check(h, c, old);
	maybe_publish(h);
}

void
hcheck_result(struct hcheck *c, enum health_status s, const char *output)
{
	c->run = NULL;
	if (c->h == NULL)
		return;
	apply(c, s, output, false);
}

static void
on_check_timer(uv_timer_t *t)
{
	struct hcheck *c = t->data;
	char why[160];
	int rc;

	if (c->h == NULL)
		return;
	if (c->kind == HK_TTL) {
		snprintf(why, sizeof(why), "TTL expired: no update within %lld ms",
		         (long long)c->ttl_ms);
		apply(c, HEALTH_CRITICAL, why, true);
		return;
	}
	uv_timer_start(&c->timer, on_check_timer, (uint64_t)c->interval_ms, 0);
	if (c->run != NULL)
		return; /* the last one still runs: its timeout ends it */
	rc = hrun_start(c);
	if (rc) {
		snprintf(why, sizeof(why), "could not start the check: %s",
		         weft_strerror(rc));
		apply(c, HEALTH_CRITICAL, why, false);
	}
}

static void
on_check_closed(uv_handle_t *hd)
{
	struct hcheck *c = hd->data;

	if (c->argv)
		for (size_t i = 0; c->argv[i]; i++)
			free(c->argv[i]);
	free(c->argv);
	free(c->id);
	free(c->service);
	free(c);
}

static void
check_stop(struct hcheck *c)
{
	list_remove(&c->link);
	c->h = NULL;
	if (c->run)
		hrun_cancel(c->run);
	c->run = NULL;
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, on_check_closed);
}

/* "IP:PORT", "[IPv6]:PORT" or "http://HOST:PORT/path" into c. */
static int
check_addr(struct hcheck *c, const char *hostport, uint16_t def_port)
{
	struct agent_hostport hp;
	struct gossip_addr ga;
	int rc;

	if (hostport == NULL || *hostport == '\0')
		hostport = "127.0.0.1";
	rc = agent_parse_hostport(hostport, def_port, &hp);
	if (rc == 0 && hp.port == 0)
		rc = WEFT_EINVAL;
	if (rc == 0)
		rc = agent_addr_from_hostport(&hp, &ga);
	if (rc == 0)
		rc = agent_addr_to_sockaddr(&ga, &c->addr);
	if (rc == 0)
		agent_addr_format(&ga, c->authority, sizeof(c->authority));
	return rc;
}

static int
check_setup(struct hcheck *c, const struct agent_check *k,
            const struct agent_service *s)
{
	char host[160];
	const char *t = k->target ? k->target : "";

	if (strcmp(k->kind, "ttl") == 0) {
		c->kind = HK_TTL;
		snprintf(c->target, sizeof(c->target), "ttl %lld ms",
		         (long long)k->ttl_ms);
		return k->ttl_ms > 0 ? 0 : WEFT_EINVAL;
	}
	if (strcmp(k->kind, "exec") == 0) {
		size_t n = 0;

		c->kind = HK_EXEC;
		while (k->argv[n])
			n++;
		if ((c->argv = calloc(n + 1, sizeof(*c->argv))) == NULL)
			return WEFT_ENOMEM;
		for (size_t i = 0; i < n; i++)
			if ((c->argv[i] = strdup(k->argv[i])) == NULL)
				return WEFT_ENOMEM;
		snprintf(c->target, sizeof(c->target), "%s", k->argv[0]);
		return 0;
	}
	if (strcmp(k->kind, "tcp") == 0) {
		c->kind = HK_TCP;
		snprintf(c->target, sizeof(c->target), "%s", t);
		return check_addr(c, t, s->port);
	}
	if (strcmp(k->kind, "grpc") == 0) {
		/* "IP:PORT", "IP:PORT/service", "/service" or "". */
		const char *slash = strchr(t, '/');
		size_t hl = slash ? (size_t)(slash - t) : strlen(t);

		c->kind = HK_GRPC;
		if (hl >= sizeof(host))
			return WEFT_EINVAL;
		memcpy(host, t, hl);
		host[hl] = '\0';
		snprintf(c->grpc_service, sizeof(c->grpc_service), "%s",
		         slash ? slash + 1 : "");
		if (check_addr(c, host, s->port))
			return WEFT_EINVAL;
		snprintf(c->target, sizeof(c->target), "grpc://%s/%s",
		         c->authority, c->grpc_service);
		return 0;
	}
	/* http: "/path" on 127.0.0.1 and the service's port, or a URL
	 * with an IP literal (a check never resolves names). */
	c->kind = HK_HTTP;
	if (strncmp(t, "http://", 7) == 0) {
		const char *p = t + 7, *slash = strchr(p, '/');
		size_t hl = slash ? (size_t)(slash - p) : strlen(p);

		if (hl >= sizeof(host))
			return WEFT_EINVAL;
		memcpy(host, p, hl);
		host[hl] = '\0';
		if (check_addr(c, host, 80))
			return WEFT_EINVAL;
		snprintf(c->path, sizeof(c->path), "%s", slash ? slash : "/");
	} else if (t[0] == '/') {
		if (check_addr(c, NULL, s->port))
			return WEFT_EINVAL;
		snprintf(c->path, sizeof(c->path), "%s", t);
	} else {
		return WEFT_EINVAL;
	}
	for (const char *p = c->path; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return WEFT_EINVAL;
	snprintf(c->target, sizeof(c->target), "http://%s%s", c->authority,
	         c->path);
	return 0;
}

static struct hcheck *
check_find(struct health *h, const char *service, const char *id)
{
	struct list *p;

	list_foreach(p, &h->checks) {
		struct hcheck *c = list_entry(p, struct hcheck, link);

		if (strcmp(c->id, id) == 0 &&
		    (service == NULL || strcmp(c->service, service) == 0))
			return c;
	}
	return NULL;
}

static int
check_new(struct health *h, const struct agent_check *k,
          const struct agent_service *s, struct list *into)
{
	struct hcheck *c = calloc(1, sizeof(*c));
	int rc;

	if (c == NULL)
		return WEFT_ENOMEM;
	c->h = h;
	c->id = strdup(k->id);
	c->service = strdup(s->name);
	c->interval_ms = k->interval_ms;
	c->timeout_ms = k->timeout_ms;
	c->ttl_ms = k->ttl_ms;
	c->need_ok = k->success_before_passing;
	c->need_bad = k->failures_before_critical;
	uv_timer_init(h->a->loop, &c->timer);
	c->timer.data = c;
	list_insert_tail(into, &c->link);
	if (c->id == NULL || c->service == NULL)
		return WEFT_ENOMEM;
	rc = check_setup(c, k, s);
	if (rc == WEFT_EINVAL) {
		weft_logf(&h->a->log, WEFT_LOG_ERROR, "msg=\"check refused\" "
		          "check=%s service=%s target=\"%s\"", c->id, s->name,
		          k->target ? k->target : "");
		set_output(c, "refused: the target is not an IP address, "
		              "port or path this check can use");
		c->f.state = HEALTH_CRITICAL;
		c->refused = true;
	}
	return rc == WEFT_EINVAL ? 0 : rc;
}

static void
check_arm(struct hcheck *c)
{
	if (c->refused)
		return;
	if (c->kind == HK_TTL)
		uv_timer_start(&c->timer, on_check_timer, (uint64_t)c->ttl_ms, 0);
	else
		uv_timer_start(&c->timer, on_check_timer, FIRST_RUN_MS, 0);
}

/* Builds checks and services for cfg; old checks with the same service,
 * id and kind hand over their state. */
static int
configure(struct health *h, const struct agent_config *cfg)
{
	struct list fresh, *p, *tmp;
	struct hsvc *svcs;
	int rc = 0;

	list_init(&fresh);
	svcs = calloc(cfg->n_services ? cfg->n_services : 1, sizeof(*svcs));
	if (svcs == NULL)
		return WEFT_ENOMEM;
	for (size_t i = 0; i < cfg->n_services && rc == 0; i++) {
		const struct agent_service *s = &cfg->services[i];
		struct hsvc *old = svc_find(h, s->name);

		if ((svcs[i].name = strdup(s->name)) == NULL)
			rc = WEFT_ENOMEM;
		if (old) {
			svcs[i].maint = old->maint;
			memcpy(svcs[i].reason, old->reason, sizeof(old->reason));
			svcs[i].published = old->published;
			svcs[i].published_maint = old->published_maint;
		} else {
			svcs[i].published = s->n_checks ? HEALTH_UNKNOWN
			                                 : HEALTH_PASSING;
		}
		for (size_t j = 0; j < s->n_checks && rc == 0; j++)
			rc = check_new(h, &s->checks[j], s, &fresh);
	}
	if (rc) {
		list_foreach_safe(p, tmp, &fresh)
			check_stop(list_entry(p, struct hcheck, link));
		svcs_free(svcs, cfg->n_services);
		return rc;
	}
	/* Hand over the state of checks that stay. */
	list_foreach(p, &fresh) {
		struct hcheck *c = list_entry(p, struct hcheck, link);
		struct hcheck *o = check_find(h, c->service, c->id);

		if (o == NULL || o->kind != c->kind || c->refused)
			continue;
		c->f = o->f;
		memcpy(c->output, o->output, sizeof(c->output));
		c->last_change_ms = o->last_change_ms;
		c->last_run_ms = o->last_run_ms;
		memcpy(c->results, o->results, sizeof(c->results));
	}
	list_foreach_safe(p, tmp, &h->checks)
		check_stop(list_entry(p, struct hcheck, link));
	list_foreach_safe(p, tmp, &fresh) {
		struct hcheck *c = list_entry(p, struct hcheck, link);

		list_remove(&c->link);
		list_insert_tail(&h->checks, &c->link);
		check_arm(c);
	}
	svcs_free(h->svcs, h->n_svcs);
	h->svcs = svcs;
	h->n_svcs = cfg->n_services;
	return 0;
}

/* Maintenance outlives a restart: an endpoint taken out of rotation on
 * purpose must not come back because weftd was upgraded.  Kept in
 * data_dir/maintenance.json as {"services": {"NAME": "REASON"}}. */
#define MAINT_FILE "maintenance.json"
#define MAINT_FILE_MAX (64u * 1024u)

static int
maint_path(const struct agent *a, char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s/%s", a->cfg.data_dir, MAINT_FILE);

	return n < 0 || (size_t)n >= cap ? WEFT_ETOOBIG : 0;
}

static int
maint_save(struct health *h)
{
	json_t *svcs = json_object(), *doc;
	char path[4096], *text;
	int rc;

	for (size_t i = 0; i < h->n_svcs; i++)
		if (h->svcs[i].maint)
			json_object_set_new(svcs, h->svcs[i].name,
			                    json_string(h->svcs[i].reason));
	doc = json_pack("{s:o}", "services", svcs);
	text = doc ? json_dumps(doc, JSON_SORT_KEYS) : NULL;
	json_decref(doc);
	if (text == NULL)
		return WEFT_ENOMEM;
	rc = maint_path(h->a, path, sizeof(path));
	if (rc == 0)
		rc = file_write_atomic(path, text, strlen(text), 0600, 0);
	free(text);
	return rc;
}

static void
maint_load(struct health *h)
{
	char path[4096];
	uint8_t *text;
	size_t len;
	json_t *doc, *svcs, *v;
	const char *k;

	if (maint_path(h->a, path, sizeof(path)) != 0 ||
	    file_read(path, MAINT_FILE_MAX, &text, &len) != 0)
		return;
	doc = json_loadb((const char *)text, len, 0, NULL);
	free(text);
	svcs = json_object_get(doc, "services");
	json_object_foreach(svcs, k, v) {
		struct hsvc *sv = svc_find(h, k);

		if (sv == NULL || !json_is_string(v))
			continue;
		sv->maint = true;
		snprintf(sv->reason, sizeof(sv->reason), "%s",
		         json_string_value(v));
		weft_logf(&h->a->log, WEFT_LOG_WARN, "msg=\"maintenance kept "
		          "from before the restart\" service=%s reason=\"%s\"",
		          sv->name, sv->reason);
	}
	json_decref(doc);
}

int
agent_health_start(struct agent *a)
{
	struct health *h = calloc(1, sizeof(*h));
	int rc;

	if (h == NULL)
		return WEFT_ENOMEM;
	h->a = a;
	list_init(&h->checks);
	rc = configure(h, &a->cfg);
	if (rc) {
		free(h);
		return rc;
	}
	maint_load(h);
	a->health = h;
	return 0;
}

int
agent_health_reload(struct agent *a)
{
	int rc;

	if (a->health == NULL)
		return 0;
	rc = configure(a->health, &a->cfg);
	if (rc == 0)
		maybe_publish(a->health);
	return rc;
}

void
agent_health_stop(struct agent *a)
{
	struct health *h = a->health;
	struct list *p, *tmp;

	if (h == NULL)
		return;
	list_foreach_safe(p, tmp, &h->checks)
		check_stop(list_entry(p, struct hcheck, link));
	svcs_free(h->svcs, h->n_svcs);
	free(h->watch);
	free(h);
	a->health = NULL;
}

int
agent_health_ttl_update(struct agent *a, const char *id, enum health_status s,
                        const char *note)
{
	struct hcheck *c = a->health ? check_find(a->health, NULL, id) : NULL;
	char out[HEALTH_OUTPUT_MAX];

	if (c == NULL)
		return WEFT_ENOENT;
	if (c->kind != HK_TTL)
		return WEFT_EINVAL;
	snprintf(out, sizeof(out), "%s", note && *note ? note
	         : s == HEALTH_PASSING ? "TTL updated: passing"
	         : s == HEALTH_WARNING ? "TTL updated: warning"
	                               : "TTL updated: critical");
	uv_timer_start(&c->timer, on_check_timer, (uint64_t)c->ttl_ms, 0);
	apply(c, s, out, true);
	return 0;
}

int
agent_health_maint(struct agent *a, const char *service, bool enable,
                   const char *reason)
{
	struct health *h = a->health;
	bool found = false;
	int rc;

	if (h == NULL)
		return WEFT_ESTATE;
	for (size_t i = 0; i < h->n_svcs; i++) {
		struct hsvc *s = &h->svcs[i];

		if (service && strcmp(s->name, service) != 0)
			continue;
		found = true;
		s->maint = enable;
		snprintf(s->reason, sizeof(s->reason), "%s",
		         enable && reason ? reason : "");
		weft_logf(&a->log, WEFT_LOG_WARN, "msg=\"maintenance %s\" "
		          "service=%s reason=\"%s\"", enable ? "on" : "off",
		          s->name, s->reason);
	}
	if (!found)
		return WEFT_ENOENT;
	rc = maint_save(h);
	if (rc)
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"maintenance not saved: "
		          "it ends at the next restart\" error=\"%s\"",
		          weft_strerror(rc));
	rc = agent_publish_services(a);
	return rc;
}

json_t *
agent_health_json(struct agent *a)
{
	struct health *h = a->health;
	json_t *checks = json_array(), *maint = json_array();
	static const char *const kinds[] = {"http", "tcp", "grpc", "exec",
	                                    "ttl"};
	struct list *p;

	if (h == NULL)
		return json_pack("{s:o, s:o}", "checks", checks, "maintenance",
		                 maint);
	list_foreach(p, &h->checks) {
		struct hcheck *c = list_entry(p, struct hcheck, link);

		json_array_append_new(checks, json_pack(
			"{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, "
			"s:I, s:{s:I, s:I, s:I}}",
			"id", c->id, "service", c->service, "kind", kinds[c->kind],
			"target", c->target, "status", health_status_name(c->f.state),
			"output", c->output,
			"last_change_ms", (json_int_t)c->last_change_ms,
			"last_run_ms", (json_int_t)c->last_run_ms,
			"interval_ms", (json_int_t)(c->kind == HK_TTL ? 0
			                                              : c->interval_ms),
			"ttl_ms", (json_int_t)c->ttl_ms,
			"success_before_passing", (json_int_t)c->need_ok,
			"failures_before_critical", (json_int_t)c->need_bad,
			"results", "passing", (json_int_t)c->results[1], "warning",
			(json_int_t)c->results[2], "critical",
			(json_int_t)c->results[3]));
	}
	for (size_t i = 0; i < h->n_svcs; i++)
		if (h->svcs[i].maint)
			json_array_append_new(maint, json_pack("{s:s, s:s}",
				"service", h->svcs[i].name, "reason",
				h->svcs[i].reason));
	return json_pack("{s:o, s:o}", "checks", checks, "maintenance", maint);
}

/* ---- the cluster's endpoints, for events ---- */

static struct hwatch *
watch_find(struct health *h, const uint8_t id[KEY_ID_LEN], const char *svc,
           bool add, bool *added)
{
	*added = false;
	for (size_t i = 0; i < h->n_watch; i++)
		if (memcmp(h->watch[i].key_id, id, KEY_ID_LEN) == 0 &&
		    strcmp(h->watch[i].service, svc) == 0)
			return &h->watch[i];
	if (!add || strlen(svc) >= sizeof(h->watch[0].service))
		return NULL;
	if (h->n_watch == h->cap_watch) {
		size_t cap = h->cap_watch ? 2 * h->cap_watch : 64;
		struct hwatch *v = realloc(h->watch, cap * sizeof(*v));

		if (v == NULL)
			return NULL;
		h->watch = v;
		h->cap_watch = cap;
	}
	memset(&h->watch[h->n_watch], 0, sizeof(h->watch[0]));
	memcpy(h->watch[h->n_watch].key_id, id, KEY_ID_LEN);
	snprintf(h->watch[h->n_watch].service, sizeof(h->watch[0].service),
	         "%s", svc);
	*added = true;
	return &h->watch[h->n_watch++];
}

static const char *
endpoint_word(uint8_t health, bool maint)
{
	return maint ? "maintenance" : health_status_name(health);
}

void
agent_health_watch(struct agent *a, const struct gossip_record *rec,
                   bool gone)
{
	struct health *h = a->health;

	if (h == NULL)
		return;
	if (gone) {
		size_t j = 0;

		for (size_t i = 0; i < h->n_watch; i++)
			if (memcmp(h->watch[i].key_id, rec->key_id, KEY_ID_LEN) != 0)
				h->watch[j++] = h->watch[i];
		h->n_watch = j;
		return;
	}
	for (size_t i = 0; i < rec->n_services; i++) {
		const struct gossip_service *sv = &rec->services[i];
		const char *reason = health_maint_reason(sv);
		bool added, maint = reason != NULL;
		struct hwatch *w = watch_find(h, rec->key_id, sv->name, true,
		                              &added);
		const char *was;
		json_t *j;

		if (w == NULL || (!added && w->health == sv->health &&
		                  w->maint == maint))
			continue;
		was = added ? "new" : endpoint_word(w->health, w->maint);
		w->health = sv->health;
		w->maint = maint;
		/* A new endpoint that is fine is no news. */
		if (added && sv->health <= HEALTH_PASSING && !maint)
			continue;
		weft_logf(&a->log, sv->health >= HEALTH_WARNING ? WEFT_LOG_WARN
		                                                : WEFT_LOG_INFO,
		          "msg=\"endpoint %s\" service=%s node=%s previous=%s%s%s%s",
		          endpoint_word(sv->health, maint), sv->name, rec->name,
		          was, maint ? " reason=\"" : "", maint ? reason : "",
		          maint ? "\"" : "");
		j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "time_ms",
		              (json_int_t)agent_now_ms(a), "type", "health", "event",
		              endpoint_word(sv->health, maint), "name", sv->name,
		              "node", rec->name, "previous", was);
		if (j && maint)
			json_object_set_new(j, "reason", json_string(reason));
		if (j && a->api)
			api_server_broadcast_event(a->api, j);
		json_decref(j);
	}
}

/* ---- metrics ---- */

void
agent_health_metrics(void *ctx, struct metrics_writer *w)
{
	struct agent *a = ctx;
	struct health *h = a->health;
	struct list *p;

	metrics_family(w, "weft_health_check_status", METRICS_GAUGE,
	               "1 for the state each local check is in.");
	if (h)
		list_foreach(p, &h->checks) {
			struct hcheck *c = list_entry(p, struct hcheck, link);
			struct metrics_label l[3] = {{"check", c->id},
			                             {"service", c->service},
			                             {"status", NULL}};

			for (int s = 0; s < 4; s++) {
				l[2].value = health_status_name((enum health_status)s);
				metrics_sample(w, l, 3, (int)c->f.state == s ? 1 : 0);
			}
		}
	metrics_family(w, "weft_health_check_results_total", METRICS_COUNTER,
	               "Results of local check runs (before the flap filter).");
	if (h)
		list_foreach(p, &h->checks) {
			struct hcheck *c = list_entry(p, struct hcheck, link);
			struct metrics_label l[3] = {{"check", c->id},
			                             {"service", c->service},
			                             {"result", NULL}};

			for (int s = 1; s < 4; s++) {
				l[2].value = health_status_name((enum health_status)s);
				metrics_sample(w, l, 3, (double)c->results[s]);
			}
		}
	metrics_family(w, "weft_service_maintenance", METRICS_GAUGE,
	               "1 while a local service is in maintenance mode.");
	for (size_t i = 0; h && i < h->n_svcs; i++) {
		struct metrics_label l = {"service", h->svcs[i].name};

		metrics_sample(w, &l, 1, h->svcs[i].maint ? 1 : 0);
	}
}
