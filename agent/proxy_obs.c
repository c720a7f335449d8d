/*
 * What the data plane tells operators about each request and stream: the
 * access log line, the per-service metrics and the monitor's events.
 * proxy_io.c, http_call.c and http_back*.c report here; nothing in this
 * file decides anything about traffic.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "agent/accesslog.h"
#include "agent/agent.h"
#include "agent/api_server.h"
#include "agent/proxy_int.h"
#include "agent/proxy_metrics.h"
#include "common/str.h"
#include "crypto/session.h"

void
agent_proxy_peer_services(const struct session_peer *peer, char *out,
                          size_t cap)
{
	size_t used = 0;

	if (cap == 0)
		return;
	out[0] = '\0';
	if (peer == NULL || peer->n_services == 0) {
		/* Per request on the remote side: no printf. */
		weft_str_copy(out, cap, "unknown");
		return;
	}
	/* A peer is known by its certificate, which may list several
	 * services: the caller was one of them, and which one the mesh
	 * cannot tell, so the label names them all. */
	for (size_t i = 0; i < peer->n_services; i++) {
		size_t n = strlen(peer->services[i]) + (i ? 1 : 0);

		/* A name that does not fit whole is left out. */
		if (n >= cap - used)
			break;
		if (i)
			weft_str_put(out, cap, &used, "+");
		weft_str_put(out, cap, &used, peer->services[i]);
	}
}

void
agent_proxy_observe(struct agent_proxy *px, const struct accesslog_entry *e,
                    bool inbound, bool timeout, bool generated)
{
	struct accesslog *log = agent_proxy_accesslog(px);
	struct proxy_metrics *m = agent_proxy_metrics(px);

	if (m != NULL) {
		struct proxy_metrics_obs o = {
			.inbound = inbound,
			.tcp = e->kind != NULL && strcmp(e->kind, "tcp") == 0,
			.source = e->src_service,
			.destination = e->dst_service,
			.status = e->status,
			.duration_s = (double)e->duration_us / 1e6,
			.bytes_in = e->bytes_in,
			.bytes_out = e->bytes_out,
			.retries = e->retries,
			.timeout = timeout,
			.generated = generated,
		};

		proxy_metrics_observe(m, &o);
	}
	if (log != NULL)
		(void)accesslog_write(log, e);
}

void
agent_proxy_event(struct agent_proxy *px, const char *event,
                  const char *service, const char *node, const char *reason)
{
	json_t *j;

	j = json_pack("{s:I, s:s, s:s, s:s, s:s, s:s}", "time_ms",
	              (json_int_t)agent_proxy_wall_ms(px), "type", "proxy",
	              "event", event, "service", service ? service : "",
	              "node", node ? node : "", "reason", reason ? reason : "");
	if (j != NULL)
		agent_proxy_post_event(px, j);
}
