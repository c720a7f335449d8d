/*
 * weft-sim: N nodes of the real gossip core in one process on a simulated
 * network (tests/gossip/sim/simnet.h), one scenario, one JSON document of
 * figures on stdout.
 *
 * Scenario, in simulated time:
 *   0 s        nodes 0..N-2 start knowing each other (a converged
 *              cluster, built through the real push-pull merge)
 *   5-15 s     idle traffic is measured
 *   15 s       node N-1 joins through a random node: join_all_s
 *   25 s       --crash COUNT random nodes stop: crash_all_s
 *   25 s-end   with --pause C:S, C random live nodes are paused for S
 *              seconds at a time, one batch after another
 *   55 s       --restart COUNT of the crashed nodes start again from
 *              nothing and rejoin: restart_all_s
 *   --partition AT:S  odd and even nodes cannot reach each other from AT
 *              for S seconds; heal_all_s is the time from the heal until
 *              every node sees every live node alive
 *   end        false positives (a live node declared dead anywhere,
 *              outside a partition)
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gossip/gossip.h"
#include "simnet.h"

#define JOIN_AT 15000
#define CRASH_AT 25000
#define IDLE_FROM 5000
#define CHURN_SPAN 30000
#define RESTART_AT 55000

struct watch {
	size_t node;
	int64_t start;   /* relative ms */
	int64_t done;    /* -1 until everyone saw it */
	size_t count;
	uint8_t *seen;   /* per observer */
};

struct run {
	struct simnet *net;
	size_t n;
	struct watch join;
	struct watch *crash;
	size_t n_crash;
	bool *crashed;
	bool *ever_paused;
	uint64_t false_pos, false_pos_unpaused, suspicions_live;
	uint8_t *fp_node; /* live nodes declared dead somewhere */
	uint64_t join_suspected;
	struct watch *restart;
	size_t n_restart;
	bool in_partition;
	uint64_t partition_deaths;
};

static void
usage(void)
{
	fprintf(stderr,
	        "usage: weft-sim --nodes N --seconds S --seed K [--loss PCT] "
	        "[--crash COUNT]\n"
	        "                [--pause COUNT:SECONDS] [--profile weft|memberlist]\n"
	        "                [--crypto test|real] [--delay MIN:MAX]\n"
	        "                [--probe-interval MS] [--probe-timeout MS]\n"
	        "                [--suspicion-mult M] [--suspicion-max-mult X]\n"
	        "                [--confirm K] [--indirect K] [--restart COUNT]\n"
	        "                [--probers P] [--suspicion-unit probe|gossip]\n"
	        "                [--partition AT:SECONDS]\n");
	exit(2);
}

static long long
num(const char *s, long long min, long long max, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "weft-sim: %s: not a number in [%lld, %lld]: %s\n",
		        what, min, max, s);
		exit(2);
	}
	return v;
}

static double
realnum(const char *s, double min, double max, const char *what)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || end == s || v < min || v > max) {
		fprintf(stderr, "weft-sim: %s: not a number in [%g, %g]: %s\n", what,
		        min, max, s);
		exit(2);
	}
	return v;
}

static void
watch_init(struct watch *w, size_t node, size_t n)
{
	w->node = node;
	w->start = -1;
	w->done = -1;
	w->count = 0;
	w->seen = calloc(n, 1);
	if (w->seen == NULL)
		abort();
}

static size_t
live_observers(const struct run *r, size_t about)
{
	size_t k = 0;

	for (size_t i = 0; i < r->n; i++)
		if (i != about && simnet_is_up(r->net, i))
			k++;
	return k;
}

static void
watch_see(struct run *r, struct watch *w, size_t observer, int64_t t)
{
	if (w->start < 0 || w->done >= 0 || w->seen[observer])
		return;
	w->seen[observer] = 1;
	w->count++;
	if (w->count >= live_observers(r, w->node))
		w->done = t - w->start;
}

/* Observers that crash later no longer count; re-check on each step. */
static void
watch_recheck(struct run *r, struct watch *w)
{
	size_t k = 0, need = 0;

	if (w->start < 0 || w->done >= 0)
		return;
	for (size_t i = 0; i < r->n; i++) {
		if (i == w->node || !simnet_is_up(r->net, i))
			continue;
		need++;
		k += w->seen[i];
	}
	if (k >= need)
		w->done = r->net->now - w->start;
}

static void
on_event(void *ctx, size_t node, int64_t t, const struct gossip_event *ev)
{
	struct run *r = ctx;
	size_t about;

	if (ev->key_id == NULL || ev->kind == GOSSIP_EV_UPDATED ||
	    (ev->kind == GOSSIP_EV_JOINED && r->join.start < 0))
		return;
	about = simnet_find(r->net, ev->key_id);
	if (about >= r->n)
		return;
	if (getenv("WEFT_SIM_TRACE_NODE") &&
	    (size_t)atol(getenv("WEFT_SIM_TRACE_NODE")) == about)
		fprintf(stderr, "t=%lld node %zu: %zu %s (incarnation %u)\n",
		        (long long)t, node, about, gossip_event_name(ev->kind),
		        ev->rec->incarnation);
	switch (ev->kind) {
	case GOSSIP_EV_JOINED:
	case GOSSIP_EV_ALIVE:
		if (about == r->join.node)
			watch_see(r, &r->join, node, t);
		for (size_t i = 0; i < r->n_restart; i++)
			if (r->restart[i].node == about)
				watch_see(r, &r->restart[i], node, t);
		break;
	case GOSSIP_EV_SUSPECT:
		/* Suspicions of the newcomer while it is new (10 s). */
		if (about == r->join.node && r->join.start >= 0 &&
		    t - r->join.start < 10000)
			r->join_suspected++;
		if (!r->crashed[about])
			r->suspicions_live++;
		break;
	case GOSSIP_EV_FAILED:
		if (r->crashed[about]) {
			for (size_t i = 0; i < r->n_crash; i++)
				if (r->crash[i].node == about)
					watch_see(r, &r->crash[i], node, t);
		} else if (r->in_partition) {
			r->partition_deaths++;
		} else if (simnet_is_up(r->net, about)) {
			if (getenv("WEFT_SIM_TRACE"))
				fprintf(stderr, "false positive: t=%lld node %zu declared "
				        "node %zu dead (incarnation %u)%s\n", (long long)t,
				        node, about, ev->rec->incarnation,
				        r->ever_paused[about] ? " (paused at some time)" : "");
			r->false_pos++;
			r->fp_node[about] = 1;
			if (!r->ever_paused[about])
				r->false_pos_unpaused++;
		}
		break;
	default:
		break;
	}
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void
traffic(struct simnet *s, uint64_t *bytes, uint64_t *pkts)
{
	*bytes = 0;
	*pkts = 0;
	for (size_t i = 0; i < s->n; i++) {
		uint64_t b, p;

		simnet_traffic(s, i, &b, &p);
		*bytes += b;
		*pkts += p;
	}
}

static size_t
random_live(struct run *r, bool avoid_paused)
{
	for (int t = 0; t < 1000; t++) {
		size_t i = (size_t)(simnet_rand(r->net) % r->n);

		if (simnet_is_up(r->net, i) && !r->crashed[i] && i != r->join.node &&
		    !(avoid_paused && simnet_is_paused(r->net, i)))
			return i;
	}
	return SIZE_MAX;
}

static void
print_json_s(const char *k, int64_t ms, bool last)
{
	if (ms < 0)
		printf("  \"%s\": null%s\n", k, last ? "" : ",");
	else
		printf("  \"%s\": %.3f%s\n", k, (double)ms / 1000.0, last ? "" : ",");
}

int
main(int argc, char **argv)
{
	struct simnet_config c;
	struct run r;
	long long nodes = 0, seconds = 0, seed = 0, crash = 0;
	long long pause_count = 0, pause_s = 0;
	double loss = 0;
	const char *profile = "weft", *crypto = "test";
	long long pi = -1, pt = -1, smult = -1, smax = -1, confirm = -1;
	long long indirect = -1, probers = -1, sunit = -1;
	long long dmin = 1, dmax = 5, restart = 0, part_at = -1, part_s = 0;
	int64_t heal_done = -1;
	uint64_t idle_b0 = 0, idle_p0 = 0, idle_b1 = 0, idle_p1 = 0;
	uint64_t churn_b0 = 0, churn_p0 = 0, churn_b1 = 0, churn_p1 = 0;
	int64_t end, next_pause = CRASH_AT, *times;
	size_t mem = 0, members = 0, detected = 0;
	struct timespec w0, w1, wb;
	struct gossip_stats tot;
	int rc;

	memset(&r, 0, sizeof(r));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (v == NULL)
			usage();
		i++;
		if (strcmp(a, "--nodes") == 0)
			nodes = num(v, 3, 60000, a);
		else if (strcmp(a, "--seconds") == 0)
			seconds = num(v, 1, 100000, a);
		else if (strcmp(a, "--seed") == 0)
			seed = num(v, 0, INT64_MAX, a);
		else if (strcmp(a, "--loss") == 0)
			loss = realnum(v, 0, 100, a) / 100.0;
		else if (strcmp(a, "--crash") == 0)
			crash = num(v, 0, 10000, a);
		else if (strcmp(a, "--pause") == 0) {
			const char *colon = strchr(v, ':');
			char cnt[32];

			if (colon == NULL || (size_t)(colon - v) >= sizeof(cnt)) {
				fprintf(stderr, "weft-sim: --pause wants COUNT:SECONDS\n");
				return 2;
			}
			memcpy(cnt, v, (size_t)(colon - v));
			cnt[colon - v] = '\0';
			pause_count = num(cnt, 0, 10000, a);
			pause_s = num(colon + 1, 1, 3600, a);
		} else if (strcmp(a, "--profile") == 0) {
			if (strcmp(v, "weft") && strcmp(v, "memberlist")) {
				fprintf(stderr, "weft-sim: --profile is weft or memberlist\n");
				return 2;
			}
			profile = v;
		} else if (strcmp(a, "--crypto") == 0) {
			if (strcmp(v, "test") && strcmp(v, "real")) {
				fprintf(stderr, "weft-sim: --crypto is test or real\n");
				return 2;
			}
			crypto = v;
		} else if (strcmp(a, "--delay") == 0) {
			const char *colon = strchr(v, ':');
			char lo[32];

			if (colon == NULL || (size_t)(colon - v) >= sizeof(lo)) {
				fprintf(stderr, "weft-sim: --delay wants MIN:MAX (ms)\n");
				return 2;
			}
			memcpy(lo, v, (size_t)(colon - v));
			lo[colon - v] = '\0';
			dmin = num(lo, 0, 10000, a);
			dmax = num(colon + 1, dmin, 10000, a);
		} else if (strcmp(a, "--probe-interval") == 0)
			pi = num(v, 10, 60000, a);
		else if (strcmp(a, "--probe-timeout") == 0)
			pt = num(v, 5, 60000, a);
		else if (strcmp(a, "--suspicion-mult") == 0)
			smult = num(v, 1, 100, a);
		else if (strcmp(a, "--suspicion-max-mult") == 0)
			smax = num(v, 1, 100, a);
		else if (strcmp(a, "--confirm") == 0)
			confirm = num(v, 0, 16, a);
		else if (strcmp(a, "--indirect") == 0)
			indirect = num(v, 0, 16, a);
		else if (strcmp(a, "--probers") == 0)
			probers = num(v, 0, 1000, a);
		else if (strcmp(a, "--suspicion-unit") == 0) {
			if (strcmp(v, "probe") && strcmp(v, "gossip")) {
				fprintf(stderr, "weft-sim: --suspicion-unit is probe or gossip\n");
				return 2;
			}
			sunit = strcmp(v, "gossip") == 0 ? GOSSIP_SUSPICION_PER_GOSSIP :
			                                   GOSSIP_SUSPICION_PER_PROBE;
		}
		else if (strcmp(a, "--restart") == 0)
			restart = num(v, 0, 10000, a);
		else if (strcmp(a, "--partition") == 0) {
			const char *colon = strchr(v, ':');
			char at[32];

			if (colon == NULL || (size_t)(colon - v) >= sizeof(at)) {
				fprintf(stderr, "weft-sim: --partition wants AT:SECONDS\n");
				return 2;
			}
			memcpy(at, v, (size_t)(colon - v));
			at[colon - v] = '\0';
			part_at = num(at, 1, 100000, a) * 1000;
			part_s = num(colon + 1, 1, 100000, a);
		}
		else
			usage();
	}
	if (nodes == 0 || seconds == 0)
		usage();
	if (restart > crash) {
		fprintf(stderr, "weft-sim: --restart restarts crashed nodes: at most "
		                "--crash of them\n");
		return 2;
	}
	if (crash + pause_count + 2 > nodes) {
		fprintf(stderr, "weft-sim: too many crashed and paused nodes for "
		                "%lld nodes\n", nodes);
		return 2;
	}

	memset(&c, 0, sizeof(c));
	c.nodes = (size_t)nodes;
	c.seed = (uint64_t)seed;
	c.loss = loss;
	c.delay_min_ms = dmin;
	c.delay_max_ms = dmax;
	c.real_crypto = strcmp(crypto, "real") == 0;
	/* A shared store holds each record once instead of N times, which
	 * is what makes N = 10,000 fit in memory; but a record its signer
	 * put there is never verified by anyone.  With real crypto every
	 * node keeps its own, and verifies what it receives. */
	c.share_store = !c.real_crypto;
	gossip_config_default(&c.gossip, strcmp(profile, "memberlist") == 0 ?
	                                 GOSSIP_PROFILE_MEMBERLIST :
	                                 GOSSIP_PROFILE_WEFT);
	if (pi > 0)
		c.gossip.probe_interval_ms = pi;
	if (pt > 0)
		c.gossip.probe_timeout_ms = pt;
	if (c.gossip.probe_timeout_ms > c.gossip.probe_interval_ms)
		c.gossip.probe_timeout_ms = c.gossip.probe_interval_ms;
	if (smult > 0)
		c.gossip.suspicion_mult = (unsigned)smult;
	if (smax > 0)
		c.gossip.suspicion_max_mult = (unsigned)smax;
	if (confirm >= 0)
		c.gossip.suspicion_confirm = (unsigned)confirm;
	if (indirect >= 0)
		c.gossip.indirect_checks = (unsigned)indirect;
	if (probers >= 0)
		c.gossip.suspicion_probers = (unsigned)probers;
	if (sunit >= 0)
		c.gossip.suspicion_unit = (unsigned)sunit;
	/* The simulator's nodes never sit in a kernel buffer long: a small
	 * seal cache is enough for the test provider's free derivations. */
	if (!c.real_crypto)
		c.gossip.seal_cache = 16;
	c.on_event = on_event;
	c.ev_ctx = &r;

	clock_gettime(CLOCK_MONOTONIC, &w0);
	rc = simnet_new(&r.net, &c);
	if (rc) {
		fprintf(stderr, "weft-sim: cannot set up the network: %d\n", rc);
		return 1;
	}
	r.n = (size_t)nodes;
	r.crashed = calloc(r.n, sizeof(*r.crashed));
	r.ever_paused = calloc(r.n, sizeof(*r.ever_paused));
	r.crash = calloc((size_t)crash + 1, sizeof(*r.crash));
	r.fp_node = calloc(r.n, 1);
	r.restart = calloc((size_t)restart + 1, sizeof(*r.restart));
	if (r.crashed == NULL || r.ever_paused == NULL || r.crash == NULL)
		return 1;
	watch_init(&r.join, r.n - 1, r.n);

	rc = simnet_bootstrap(r.net, r.n - 1);
	if (rc) {
		fprintf(stderr, "weft-sim: bootstrap failed: %d\n", rc);
		return 1;
	}
	end = seconds * 1000;
	clock_gettime(CLOCK_MONOTONIC, &wb);

	simnet_run_until(r.net, IDLE_FROM < end ? IDLE_FROM : end);
	traffic(r.net, &idle_b0, &idle_p0);
	if (end > JOIN_AT) {
		simnet_run_until(r.net, JOIN_AT);
		traffic(r.net, &idle_b1, &idle_p1);
		r.join.start = JOIN_AT;
		simnet_join(r.net, r.n - 1, (size_t)(simnet_rand(r.net) % (r.n - 1)));
	}
	if (end > CRASH_AT) {
		simnet_run_until(r.net, CRASH_AT);
		traffic(r.net, &churn_b0, &churn_p0);
		for (long long i = 0; i < crash; i++) {
			size_t v = random_live(&r, false);

			if (v == SIZE_MAX)
				break;
			r.crashed[v] = true;
			watch_init(&r.crash[r.n_crash], v, r.n);
			r.crash[r.n_crash].start = CRASH_AT;
			r.n_crash++;
			simnet_crash(r.net, v);
		}
	}
	while (r.net->now < end) {
		int64_t step = r.net->now + 100;

		if (pause_count > 0 && r.net->now >= next_pause) {
			for (long long i = 0; i < pause_count; i++) {
				size_t v = random_live(&r, true);

				if (v == SIZE_MAX)
					break;
				r.ever_paused[v] = true;
				simnet_pause(r.net, v, pause_s * 1000);
			}
			next_pause = r.net->now + pause_s * 1000 + 100;
		}
		if (restart > 0 && r.n_restart == 0 && r.net->now >= RESTART_AT) {
			for (size_t i = 0; i < (size_t)restart && i < r.n_crash; i++) {
				size_t v = r.crash[i].node, seed_node = random_live(&r, true);

				if (seed_node == SIZE_MAX)
					break;
				r.crashed[v] = false;
				watch_init(&r.restart[r.n_restart], v, r.n);
				r.restart[r.n_restart].start = r.net->now;
				r.n_restart++;
				simnet_restart(r.net, v, seed_node);
			}
		}
		if (part_at >= 0 && !r.in_partition && heal_done < 0 &&
		    r.net->now >= part_at && r.net->now < part_at + part_s * 1000) {
			int *grp = calloc(r.n, sizeof(*grp));

			for (size_t i = 0; i < r.n; i++)
				grp[i] = (int)(i % 2);
			simnet_partition(r.net, grp);
			free(grp);
			r.in_partition = true;
		}
		if (r.in_partition && r.net->now >= part_at + part_s * 1000) {
			simnet_heal(r.net);
			heal_done = 0;
		}
		/* Healed when every live node counts every live node alive;
		 * deaths seen until then were the partition's. */
		if (heal_done == 0) {
			size_t up = 0, ok = 0;

			for (size_t i = 0; i < r.n; i++)
				up += simnet_is_up(r.net, i);
			for (size_t i = 0; i < r.n; i++) {
				struct gossip *g = simnet_gossip(r.net, i);

				if (g && gossip_member_count(g, GOSSIP_ALIVE) == up &&
				    gossip_member_count(g, GOSSIP_SUSPECT) == 0)
					ok++;
			}
			if (ok == up) {
				heal_done = r.net->now - (part_at + part_s * 1000);
				r.in_partition = false;
			}
		}
		if (r.net->now < CRASH_AT + CHURN_SPAN && step >= CRASH_AT + CHURN_SPAN) {
			simnet_run_until(r.net, CRASH_AT + CHURN_SPAN);
			traffic(r.net, &churn_b1, &churn_p1);
		}
		simnet_run_until(r.net, step > end ? end : step);
		watch_recheck(&r, &r.join);
		for (size_t i = 0; i < r.n_restart; i++)
			watch_recheck(&r, &r.restart[i]);
		for (size_t i = 0; i < r.n_crash; i++)
			watch_recheck(&r, &r.crash[i]);
	}
	clock_gettime(CLOCK_MONOTONIC, &w1);

	memset(&tot, 0, sizeof(tot));
	for (size_t i = 0; i < r.n; i++) {
		struct gossip *g = simnet_gossip(r.net, i);
		const struct gossip_stats *st;

		if (g == NULL)
			continue;
		mem += gossip_mem_usage(g);
		members += gossip_member_count(g, GOSSIP_ALIVE) +
		           gossip_member_count(g, GOSSIP_SUSPECT) +
		           gossip_member_count(g, GOSSIP_DEAD) +
		           gossip_member_count(g, GOSSIP_LEFT);
		st = gossip_get_stats(g);
		tot.suspicions += st->suspicions;
		tot.refutations += st->refutations;
		tot.drop_unknown_key += st->drop_unknown_key;
		tot.unknown_pulls += st->unknown_pulls;
		tot.drop_malformed += st->drop_malformed;
		tot.refused_records += st->refused_records;
		tot.sig_verifies += st->sig_verifies;
		tot.sig_cache_hits += st->sig_cache_hits;
		tot.queue_dropped += st->queue_dropped;
	}
	if (r.net->store)
		mem += gossip_store_mem_usage(r.net->store);

	times = calloc(r.n_crash + 1, sizeof(*times));
	for (size_t i = 0; i < r.n_crash; i++)
		if (r.crash[i].done >= 0)
			times[detected++] = r.crash[i].done;
	qsort(times, detected, sizeof(*times), cmp_i64);

	printf("{\n");
	printf("  \"nodes\": %lld,\n  \"seconds\": %lld,\n  \"seed\": %lld,\n",
	       nodes, seconds, seed);
	printf("  \"loss_pct\": %.2f,\n  \"crash\": %lld,\n", loss * 100, crash);
	printf("  \"pause\": {\"count\": %lld, \"seconds\": %lld},\n", pause_count,
	       pause_s);
	printf("  \"profile\": \"%s\",\n", profile);
	printf("  \"crypto\": \"%s\",\n",
	       c.real_crypto ? "real" :
	       "test-only provider (no security; real crypto is --crypto real)");
	printf("  \"delay_ms\": [%lld, %lld],\n", dmin, dmax);
	printf("  \"config\": {\"probe_interval_ms\": %lld, \"probe_timeout_ms\": "
	       "%lld, \"indirect_checks\": %u, \"gossip_interval_ms\": %lld, "
	       "\"fanout\": %u, \"suspicion_mult\": %u, \"suspicion_max_mult\": "
	       "%u, \"suspicion_confirm\": %u, \"suspicion_unit\": \"%s\", "
	       "\"suspicion_probers\": %u, \"retransmit_mult\": %u, "
	       "\"pushpull_interval_ms\": %lld},\n",
	       (long long)c.gossip.probe_interval_ms,
	       (long long)c.gossip.probe_timeout_ms, c.gossip.indirect_checks,
	       (long long)c.gossip.gossip_interval_ms, c.gossip.fanout,
	       c.gossip.suspicion_mult, c.gossip.suspicion_max_mult,
	       c.gossip.suspicion_confirm,
	       c.gossip.suspicion_unit == GOSSIP_SUSPICION_PER_GOSSIP ? "gossip" :
	                                                            "probe",
	       c.gossip.suspicion_probers, c.gossip.retransmit_mult,
	       (long long)c.gossip.pushpull_interval_ms);
	print_json_s("join_all_s", r.join.done, false);
	if (r.join.done >= 0)
		printf("  \"join_rounds\": %.1f,\n",
		       (double)r.join.done / (double)c.gossip.gossip_interval_ms);
	else
		printf("  \"join_rounds\": null,\n");
	printf("  \"join_suspected\": %" PRIu64 ",\n", r.join_suspected);
	printf("  \"crash_all_s\": {");
	if (detected) {
		size_t p99 = (size_t)((double)(detected - 1) * 0.99 + 0.5);

		printf("\"median\": %.3f, \"p99\": %.3f, \"max\": %.3f, ",
		       (double)times[(detected - 1) / 2] / 1000.0,
		       (double)times[p99] / 1000.0,
		       (double)times[detected - 1] / 1000.0);
	} else {
		printf("\"median\": null, \"p99\": null, \"max\": null, ");
	}
	printf("\"detected\": %zu, \"crashed\": %zu},\n", detected, r.n_crash);
	{
		size_t k = 0;

		for (size_t i = 0; i < r.n; i++)
			k += r.fp_node[i];
		printf("  \"false_positive_nodes\": %zu,\n", k);
	}
	printf("  \"false_positives\": %" PRIu64 ",\n", r.false_pos);
	{
		int64_t worst = -1;
		size_t back = 0;

		for (size_t i = 0; i < r.n_restart; i++)
			if (r.restart[i].done >= 0) {
				back++;
				if (r.restart[i].done > worst)
					worst = r.restart[i].done;
			}
		printf("  \"restart\": {\"restarted\": %zu, \"known_alive_by_all\": "
		       "%zu},\n", r.n_restart, back);
		print_json_s("restart_all_s", back == r.n_restart ? worst : -1, false);
	}
	printf("  \"partition\": {\"at_s\": %lld, \"seconds\": %lld},\n",
	       part_at >= 0 ? part_at / 1000 : -1, part_s);
	print_json_s("heal_all_s", heal_done > 0 ? heal_done : -1, false);
	printf("  \"partition_deaths\": %" PRIu64 ",\n", r.partition_deaths);
	printf("  \"false_positives_unpaused\": %" PRIu64 ",\n",
	       r.false_pos_unpaused);
	printf("  \"suspicions_of_live\": %" PRIu64 ",\n", r.suspicions_live);
	printf("  \"refutations\": %" PRIu64 ",\n", tot.refutations);
	if (end > JOIN_AT) {
		double span = (double)(JOIN_AT - IDLE_FROM) / 1000.0;
		double live = (double)(r.n - 1);

		printf("  \"idle_bytes_per_node_s\": %.1f,\n",
		       (double)(idle_b1 - idle_b0) / live / span);
		printf("  \"idle_packets_per_node_s\": %.2f,\n",
		       (double)(idle_p1 - idle_p0) / live / span);
	} else {
		printf("  \"idle_bytes_per_node_s\": null,\n");
		printf("  \"idle_packets_per_node_s\": null,\n");
	}
	if (churn_b1 > 0) {
		double span = CHURN_SPAN / 1000.0;
		double live = (double)r.n;

		printf("  \"churn_bytes_per_node_s\": %.1f,\n",
		       (double)(churn_b1 - churn_b0) / live / span);
		printf("  \"churn_packets_per_node_s\": %.2f,\n",
		       (double)(churn_p1 - churn_p0) / live / span);
	} else {
		printf("  \"churn_bytes_per_node_s\": null,\n");
		printf("  \"churn_packets_per_node_s\": null,\n");
	}
	printf("  \"bytes_per_member\": %.1f,\n",
	       members ? (double)mem / (double)members : 0.0);
	printf("  \"unknown_key_drops\": %" PRIu64 ",\n", tot.drop_unknown_key);
	printf("  \"unknown_key_pulls\": %" PRIu64 ",\n", tot.unknown_pulls);
	printf("  \"malformed_drops\": %" PRIu64 ",\n", tot.drop_malformed);
	printf("  \"refused_records\": %" PRIu64 ",\n", tot.refused_records);
	printf("  \"signature_checks\": %" PRIu64 ",\n", tot.sig_verifies);
	printf("  \"signature_cache_hits\": %" PRIu64 ",\n", tot.sig_cache_hits);
	printf("  \"packets_lost\": %" PRIu64 ",\n", r.net->lost);
	printf("  \"packets_delivered\": %" PRIu64 ",\n", r.net->delivered);
	printf("  \"bootstrap_wall_s\": %.2f,\n",
	       (double)(wb.tv_sec - w0.tv_sec) +
	       (double)(wb.tv_nsec - w0.tv_nsec) / 1e9);
	printf("  \"wall_s\": %.2f\n",
	       (double)(w1.tv_sec - w0.tv_sec) +
	       (double)(w1.tv_nsec - w0.tv_nsec) / 1e9);
	printf("}\n");

	free(times);
	for (size_t i = 0; i < r.n_crash; i++)
		free(r.crash[i].seen);
	free(r.join.seen);
	for (size_t i = 0; i < r.n_restart; i++)
		free(r.restart[i].seen);
	free(r.restart);
	free(r.crash);
	free(r.crashed);
	free(r.ever_paused);
	free(r.fp_node);
	simnet_free(r.net);
	return 0;
}
