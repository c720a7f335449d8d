/*
 * Certificate expiry, cluster-wide: every member record carries its
 * certificate's end (gossip_record.cert_not_after), so any agent can list
 * them all; this agent warns in its log, daily, from cert_warn_before
 * ahead of its own certificate's or a trusted CA's end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent.h"
#include "common/err.h"

#define DAY_MS (86400LL * 1000)

static void
warn_one(struct agent *a, const char *what, const char *name, int64_t end,
         int64_t now)
{
	int64_t left = end - now;

	if (left > a->cfg.cert_warn_before_s)
		return;
	if (left <= 0)
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"%s certificate has "
		          "expired\" name=%s not_after_unix=%lld expired_s_ago=%lld",
		          what, name, (long long)end, (long long)-left);
	else
		weft_logf(&a->log, WEFT_LOG_WARN, "msg=\"%s certificate expires "
		          "soon\" name=%s not_after_unix=%lld expires_in_s=%lld "
		          "warn_before_s=%lld", what, name, (long long)end,
		          (long long)left, (long long)a->cfg.cert_warn_before_s);
}

void
agent_expiry_check(struct agent *a)
{
	int64_t now = agent_now_unix();

	warn_one(a, "node", a->cfg.node_name, a->id.cert.not_after, now);
	for (size_t i = 0; i < a->id.bundle.n; i++)
		warn_one(a, "CA", a->id.bundle.cas[i].name,
		         a->id.bundle.cas[i].not_after, now);
}

static void
on_expiry_timer(uv_timer_t *t)
{
	agent_expiry_check(t->data);
}

void
agent_expiry_start(struct agent *a)
{
	uv_timer_init(a->loop, &a->expiry_timer);
	a->expiry_timer.data = a;
	agent_expiry_check(a);
	uv_timer_start(&a->expiry_timer, on_expiry_timer, DAY_MS, DAY_MS);
}

void
agent_expiry_stop(struct agent *a)
{
	if (a->expiry_timer.data == NULL)
		return;
	uv_timer_stop(&a->expiry_timer);
	uv_close((uv_handle_t *)&a->expiry_timer, NULL);
	a->expiry_timer.data = NULL;
}

struct soonest {
	int64_t end;
	const char *who;
};

static void
soonest_fn(void *ctx, enum gossip_state s, const struct gossip_record *r)
{
	struct soonest *so = ctx;

	if (s != GOSSIP_ALIVE && s != GOSSIP_SUSPECT)
		return;
	if (r->cert_not_after > 0 &&
	    (so->end == 0 || r->cert_not_after < so->end)) {
		so->end = r->cert_not_after;
		so->who = r->name;
	}
}

int64_t
agent_expiry_soonest(struct agent *a, const char **who)
{
	struct soonest so = {0, NULL};

	gossip_member_foreach(a->g, soonest_fn, &so);
	if (who)
		*who = so.who;
	return so.end;
}

static const char *const state_names[] = {"alive", "suspect", "failed",
                                          "left"};

struct certs_ctx {
	json_t *list;
	int64_t now;
	int64_t warn;
};

static json_t *
entry(const char *name, const uint8_t id[KEY_ID_LEN], int64_t end,
      int64_t now, int64_t warn)
{
	char hex[KEY_ID_HEX_LEN + 1];

	key_id_hex(hex, id);
	return json_pack("{s:s, s:s, s:I, s:I, s:b}", "name", name, "key_id",
	                 hex, "not_after_unix", (json_int_t)end,
	                 "expires_in_s", (json_int_t)(end - now), "warning",
	                 end - now <= warn);
}

static void
certs_fn(void *ctx, enum gossip_state s, const struct gossip_record *r)
{
	struct certs_ctx *cc = ctx;
	json_t *e = entry(r->name, r->key_id, r->cert_not_after, cc->now,
	                  cc->warn);

	if (e == NULL)
		return;
	json_object_set_new(e, "status", json_string(state_names[s & 3]));
	json_array_append_new(cc->list, e);
}

static int
by_end(const void *x, const void *y)
{
	const json_t *a = *(json_t *const *)x, *b = *(json_t *const *)y;
	json_int_t ea = json_integer_value(json_object_get(a, "not_after_unix"));
	json_int_t eb = json_integer_value(json_object_get(b, "not_after_unix"));

	if (ea != eb)
		return ea < eb ? -1 : 1;
	return strcmp(json_string_value(json_object_get(a, "name")),
	              json_string_value(json_object_get(b, "name")));
}

static json_t *
sorted(json_t *list)
{
	size_t n = json_array_size(list);
	json_t **v = malloc((n ? n : 1) * sizeof(*v)), *out = json_array();

	for (size_t i = 0; v && i < n; i++)
		v[i] = json_array_get(list, i);
	if (v && n > 1)
		qsort(v, n, sizeof(*v), by_end);
	for (size_t i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(list);
	return out;
}

json_t *
agent_certs_json(struct agent *a)
{
	struct certs_ctx cc = {json_array(), agent_now_unix(),
	                       a->cfg.cert_warn_before_s};
	json_t *cas = json_array();

	gossip_member_foreach(a->g, certs_fn, &cc);
	for (size_t i = 0; i < a->id.bundle.n; i++) {
		const struct cert *ca = &a->id.bundle.cas[i];

		json_array_append_new(cas, entry(ca->name, ca->key_id,
		                                 ca->not_after, cc.now, cc.warn));
	}
	return json_pack("{s:o, s:o, s:I}", "members", sorted(cc.list), "cas",
	                 sorted(cas), "warn_before_s",
	                 (json_int_t)a->cfg.cert_warn_before_s);
}

void
agent_expiry_info(struct agent *a, json_t *obj)
{
	int64_t now = agent_now_unix(), ca_end = 0;
	const char *who = NULL;
	int64_t soon = agent_expiry_soonest(a, &who);
	json_t *warn = json_array();

	for (size_t i = 0; i < a->id.bundle.n; i++)
		if (ca_end == 0 || a->id.bundle.cas[i].not_after < ca_end)
			ca_end = a->id.bundle.cas[i].not_after;
	if (a->id.cert.not_after - now <= a->cfg.cert_warn_before_s)
		json_array_append_new(warn, json_string(
			a->id.cert.not_after <= now ? "node certificate has expired"
			                            : "node certificate expires soon"));
	if (ca_end && ca_end - now <= a->cfg.cert_warn_before_s)
		json_array_append_new(warn, json_string(
			ca_end <= now ? "CA certificate has expired"
			              : "CA certificate expires soon"));
	json_object_set_new(obj, "ca_not_after_unix", json_integer(ca_end));
	json_object_set_new(obj, "cert_warn_before_s",
	                    json_integer(a->cfg.cert_warn_before_s));
	json_object_set_new(obj, "cluster_soonest_not_after_unix",
	                    json_integer(soon));
	json_object_set_new(obj, "cluster_soonest_member",
	                    who ? json_string(who) : json_null());
	json_object_set_new(obj, "cert_warnings", warn);
}
