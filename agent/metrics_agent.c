/*
 * The agent's and the gossip core's metrics, as collectors of the
 * registry (metrics.h).  The data plane registers its own.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/api_server.h"
#include "agent/health.h"
#include "common/err.h"
#include "weft_version.h"

static void
counter(struct metrics_writer *w, const char *name, const char *help,
        uint64_t v)
{
	metrics_family(w, name, METRICS_COUNTER, help);
	metrics_sample(w, NULL, 0, (double)v);
}

static void
gauge(struct metrics_writer *w, const char *name, const char *help, double v)
{
	metrics_family(w, name, METRICS_GAUGE, help);
	metrics_sample(w, NULL, 0, v);
}

/* A counter family with one label and two values. */
static void
pair(struct metrics_writer *w, const char *name, const char *help,
     const char *label, const char *k1, uint64_t v1, const char *k2,
     uint64_t v2)
{
	struct metrics_label l = {label, k1};

	metrics_family(w, name, METRICS_COUNTER, help);
	metrics_sample(w, &l, 1, (double)v1);
	l.value = k2;
	metrics_sample(w, &l, 1, (double)v2);
}

/* The core keeps probe round trips in milliseconds per bucket;
 * Prometheus wants seconds. */
static void
rtt_histogram(struct metrics_writer *w, const struct gossip_stats *s)
{
	double bounds[GOSSIP_RTT_BUCKETS];
	struct metrics_histogram h;
	const int64_t *ms;
	size_t n;

	ms = gossip_rtt_bounds_ms(&n);
	for (size_t i = 0; i < n && i < GOSSIP_RTT_BUCKETS; i++)
		bounds[i] = (double)ms[i] / 1000.0;
	if (metrics_histogram_init(&h, bounds, n) != 0)
		return;
	for (size_t i = 0; i <= n; i++)
		h.counts[i] = s->probe_rtt_le[i];
	h.count = s->probe_rtt_count;
	h.sum = (double)s->probe_rtt_sum_ms / 1000.0;
	metrics_family(w, "weft_gossip_probe_rtt_seconds", METRICS_HISTOGRAM,
	               "Round trips of direct probes answered in time (the "
	               "agent's millisecond clock).");
	metrics_histogram_write(w, NULL, 0, &h);
}

static void
collect_gossip(void *ctx, struct metrics_writer *w)
{
	struct agent *a = ctx;
	const struct gossip_stats *s = gossip_get_stats(a->g);
	static const char *const states[] = {"alive", "suspect", "failed",
	                                     "left"};
	struct metrics_label l = {"state", NULL};
	struct metrics_label r = {"reason", NULL};

	metrics_family(w, "weft_gossip_members", METRICS_GAUGE,
	               "Members known to this agent, by state (this node "
	               "included).");
	for (int i = 0; i < 4; i++) {
		l.value = states[i];
		metrics_sample(w, &l, 1, (double)gossip_member_count(
			a->g, (enum gossip_state)i));
	}
	counter(w, "weft_gossip_probes_total", "Direct probes sent.",
	        s->probes);
	counter(w, "weft_gossip_probe_failures_total", "Probes that got no "
	        "answer, direct or indirect, in time.", s->probe_fails);
	counter(w, "weft_gossip_indirect_probes_total", "Indirect probes "
	        "(ping-req) sent.", s->indirect_probes);
	counter(w, "weft_gossip_suspicions_total", "Suspicions raised about "
	        "members.", s->suspicions);
	counter(w, "weft_gossip_refutations_total", "Suspicions of this node "
	        "refuted.", s->refutations);
	counter(w, "weft_gossip_deaths_declared_total", "Members declared "
	        "failed by this node.", s->deaths_declared);
	pair(w, "weft_gossip_packets_total", "UDP gossip packets.",
	     "direction", "in", s->pkts_in, "out", s->pkts_out);
	pair(w, "weft_gossip_packet_bytes_total", "Bytes of UDP gossip "
	     "packets.", "direction", "in", s->bytes_in, "out", s->bytes_out);
	pair(w, "weft_gossip_stream_messages_total", "Push-pull stream "
	     "messages (one out per push-pull started or answered).",
	     "direction", "in", s->streams_in, "out", s->streams_out);
	pair(w, "weft_gossip_stream_bytes_total", "Bytes of push-pull stream "
	     "messages.", "direction", "in", s->stream_bytes_in, "out",
	     s->stream_bytes_out);
	metrics_family(w, "weft_gossip_dropped_packets_total",
	               METRICS_COUNTER, "Packets dropped before or while "
	               "parsing, by reason.");
	r.value = "unknown_key";
	metrics_sample(w, &r, 1, (double)s->drop_unknown_key);
	r.value = "revoked_key";
	metrics_sample(w, &r, 1, (double)s->drop_revoked_key);
	r.value = "bad_seal";
	metrics_sample(w, &r, 1, (double)s->drop_bad_seal);
	r.value = "malformed";
	metrics_sample(w, &r, 1, (double)s->drop_malformed);
	pair(w, "weft_gossip_refused_total", "Records and objects refused "
	     "(signature, certificate, policy).", "kind", "record",
	     s->refused_records, "object", s->refused_objects);
	counter(w, "weft_gossip_unknown_pulls_total", "Pulls started for "
	        "packets from unknown keys.", s->unknown_pulls);
	counter(w, "weft_gossip_broadcast_dropped_total", "Broadcasts dropped "
	        "from a full queue.", s->queue_dropped);
	counter(w, "weft_gossip_refusals_total", "Packets to members that "
	        "their host answered with ICMP port unreachable (a gone agent; "
	        "probed at once).", s->refusals);
	counter(w, "weft_gossip_signature_verifications_total", "Record "
	        "signatures verified.", s->sig_verifies);
	counter(w, "weft_gossip_signature_cache_hits_total", "Records already "
	        "verified, found by their bytes.", s->sig_cache_hits);
	gauge(w, "weft_gossip_health_score", "Lifeguard local health score "
	      "(0 is healthy; timeouts are scaled by score + 1).",
	      gossip_health_score(a->g));
	gauge(w, "weft_gossip_broadcast_queue", "Broadcasts waiting to be "
	      "piggybacked.", (double)gossip_queue_depth(a->g));
	rtt_histogram(w, s);
	metrics_family(w, "weft_gossip_pushpull_duration_seconds",
	               METRICS_HISTOGRAM, "Push-pulls this agent started, from "
	               "its push (the connection and handshake included) to "
	               "the answer.");
	metrics_histogram_write(w, NULL, 0, &a->pushpull_seconds);
	gauge(w, "weft_gossip_objects", "Cluster objects held (tombstones "
	      "excluded).", (double)gossip_object_count(a->g, false));
	gauge(w, "weft_gossip_memory_bytes", "Bytes held by the gossip "
	      "state.", (double)gossip_mem_usage(a->g));
}

static long
rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, rss = 0;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &rss) != 2)
		rss = -1;
	fclose(f);
	return rss < 0 ? -1 : rss * sysconf(_SC_PAGESIZE);
}

static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

static void
collect_agent(void *ctx, struct metrics_writer *w)
{
	struct agent *a = ctx;
	struct metrics_label l[2];
	const char *who = NULL;
	int64_t soon = agent_expiry_soonest(a, &who);
	char id[KEY_ID_HEX_LEN + 1];
	long v;

	l[0] = (struct metrics_label){"version", WEFT_VERSION};
	metrics_family(w, "weft_build_info", METRICS_GAUGE, "Always 1; the "
	               "version in a label.");
	metrics_sample(w, l, 1, 1);
	key_id_hex(id, a->id.key.id);
	l[0] = (struct metrics_label){"node", a->cfg.node_name};
	l[1] = (struct metrics_label){"key_id", id};
	metrics_family(w, "weft_cert_expiry_timestamp_seconds", METRICS_GAUGE,
	               "When this node's certificate ends (Unix time).");
	metrics_sample(w, l, 2, (double)a->id.cert.not_after);
	metrics_family(w, "weft_ca_cert_expiry_timestamp_seconds",
	               METRICS_GAUGE, "When each trusted CA certificate ends "
	               "(Unix time).");
	for (size_t i = 0; i < a->id.bundle.n; i++) {
		key_id_hex(id, a->id.bundle.cas[i].key_id);
		l[0] = (struct metrics_label){"ca", a->id.bundle.cas[i].name};
		metrics_sample(w, l, 2, (double)a->id.bundle.cas[i].not_after);
	}
	metrics_family(w, "weft_cluster_cert_expiry_soonest_timestamp_seconds",
	               METRICS_GAUGE, "The soonest end of a live member's "
	               "certificate (Unix time), and whose it is.");
	if (soon) {
		l[0] = (struct metrics_label){"node", who ? who : ""};
		metrics_sample(w, l, 1, (double)soon);
	}
	gauge(w, "weft_cert_warn_before_seconds", "How long before an end "
	      "the agent warns (cert_warn_before).",
	      (double)a->cfg.cert_warn_before_s);
	pair(w, "weft_config_reloads_total", "Configuration reloads (SIGHUP "
	     "or the API), by result.", "result", "ok", a->reloads,
	     "refused", a->reload_failures);
	if ((v = rss_bytes()) >= 0)
		gauge(w, "weft_process_resident_memory_bytes", "Resident set "
		      "size of weftd.", (double)v);
	if ((v = open_fds()) >= 0)
		gauge(w, "weft_process_open_fds", "Open file descriptors of "
		      "weftd.", (double)v);
	gauge(w, "weft_process_start_time_seconds", "When weftd started "
	      "(Unix time).", (double)a->started_unix);
	gauge(w, "weft_api_clients", "Local API clients connected (event "
	      "streams included).",
	      a->api ? (double)api_server_clients(a->api) : 0);
	counter(w, "weft_metrics_scrapes_total", "Scrapes of these metrics.",
	        a->metrics.scrapes);
	counter(w, "weft_metrics_scrape_errors_total", "Collectors whose part "
	        "was cut from a scrape after an error.",
	        a->metrics.scrape_errors);
}

int
agent_metrics_start(struct agent *a)
{
	static const double pp_bounds[] = {
		0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
		2.5, 5,
	};
	int rc;

	metrics_histogram_init(&a->pushpull_seconds, pp_bounds,
	                       sizeof(pp_bounds) / sizeof(pp_bounds[0]));
	rc = metrics_register(&a->metrics, "agent", collect_agent, a);
	if (rc == 0)
		rc = metrics_register(&a->metrics, "gossip", collect_gossip, a);
	if (rc == 0)
		rc = metrics_register(&a->metrics, "health", agent_health_metrics,
		                      a);
	if (rc == 0)
		rc = agent_metrics_listen(a);
	return rc;
}

void
agent_metrics_stop(struct agent *a)
{
	agent_metrics_unlisten(a);
	metrics_unregister(&a->metrics, a);
}
