/* weftd: flags, configuration, then the event loop. */
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sodium.h>
#include <uv.h>

#include "agent/agent.h"
#include "agent/log.h"
#include "agent/proxy_io.h"
#include "common/err.h"
#include "weft_version.h"

static void
usage(FILE *f)
{
	fprintf(f,
	        "usage: weftd [--config FILE] [--config-dir DIR] [flags]\n"
	        "\n"
	        "  --config FILE      JSON config (default " AGENT_DEFAULT_CONFIG
	        " if present,\n"
	        "                     plus " AGENT_DEFAULT_CONFIG_DIR "/*.json)\n"
	        "  --config-dir DIR   more JSON files, merged in name order\n"
	        "  --node NAME        node name (must match the certificate)\n"
	        "  --bind ADDR[:PORT] gossip UDP and TCP address (port 7370)\n"
	        "  --advertise ADDR   address peers reach this node at\n"
	        "  --join ADDR[:PORT] a seed; repeat for more\n"
	        "  --data-dir DIR     state directory (default /var/lib/weft)\n"
	        "  --socket PATH      local API socket (default "
	        "/run/weft/weftd.sock)\n"
	        "  --key FILE --cert FILE --ca FILE   identity files\n"
	        "  --log-level LEVEL  error, warn, info or debug\n"
	        "  --check-config     validate, print the effective config, exit\n"
	        "  --version, --help\n");
}

/* Flags become one more config document, checked by the same schema, so
 * a bad flag is reported like a bad key. */
static int
set_flag(json_t *flags, const char *key, const char *val)
{
	if (strcmp(key, "join") == 0) {
		json_t *j = json_object_get(flags, "join");

		if (j == NULL) {
			j = json_array();
			json_object_set_new(flags, "join", j);
		}
		return json_array_append_new(j, json_string(val));
	}
	if (strncmp(key, "identity.", 9) == 0) {
		json_t *id = json_object_get(flags, "identity");

		if (id == NULL) {
			id = json_object();
			json_object_set_new(flags, "identity", id);
		}
		return json_object_set_new(id, key + 9, json_string(val));
	}
	return json_object_set_new(flags, key, json_string(val));
}

static const char *
default_socket(void)
{
	static char path[512];
	const char *xdg = getenv("XDG_RUNTIME_DIR");

	if (getuid() == 0 || xdg == NULL)
		return NULL;
	snprintf(path, sizeof(path), "%s/weft/weftd.sock", xdg);
	return path;
}

/*
 * Starting (config, certificates, every code path run once) leaves
 * weftd's own text and read-only data resident in 64 KiB runs (the
 * kernel maps file pages around each fault) that the running agent
 * never touches again.  Dropping them once started leaves RSS to what
 * the agent runs; a page it needs comes back from the page cache.  Only
 * read-only mappings of the executable with no private (copied) page
 * are dropped: a copied page, such as a relocated one in RELRO, would
 * lose its contents.
 */
static void
drop_mapping(unsigned long lo, unsigned long hi, bool ours, bool ro,
             long anon_kb)
{
	if (ours && ro && anon_kb == 0 && hi > lo)
		(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

static void
shed_startup_pages(void)
{
#ifdef __linux__
	char exe[1024], line[1200];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	unsigned long lo = 0, hi = 0;
	bool ours = false, ro = false;
	long anon_kb = -1;
	FILE *f;

	if (n <= 0 || (f = fopen("/proc/self/smaps", "re")) == NULL)
		return;
	exe[n] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long a, b;
		char perms[5], path[1024];
		long kb;
		int k = sscanf(line, "%lx-%lx %4s %*s %*s %*s %1023s", &a, &b,
		               perms, path);

		if (k >= 3 && strchr(line, '-') < strchr(line, ' ')) {
			drop_mapping(lo, hi, ours, ro, anon_kb);
			lo = a;
			hi = b;
			ours = k == 4 && strcmp(path, exe) == 0;
			ro = perms[1] != 'w';
			anon_kb = -1;
		} else if (sscanf(line, "Anonymous: %ld kB", &kb) == 1) {
			anon_kb = kb;
		}
	}
	drop_mapping(lo, hi, ours, ro, anon_kb);
	fclose(f);
#endif
}

int
main(int argc, char **argv)
{
	enum { O_CONFIG = 256, O_CONFIG_DIR, O_NODE, O_BIND, O_ADVERTISE,
	       O_JOIN, O_DATA_DIR, O_SOCKET, O_KEY, O_CERT, O_CA, O_LOG_LEVEL,
	       O_CHECK, O_VERSION, O_HELP };
	static const struct option opts[] = {
		{"config", required_argument, NULL, O_CONFIG},
		{"config-dir", required_argument, NULL, O_CONFIG_DIR},
		{"node", required_argument, NULL, O_NODE},
		{"bind", required_argument, NULL, O_BIND},
		{"advertise", required_argument, NULL, O_ADVERTISE},
		{"join", required_argument, NULL, O_JOIN},
		{"data-dir", required_argument, NULL, O_DATA_DIR},
		{"socket", required_argument, NULL, O_SOCKET},
		{"key", required_argument, NULL, O_KEY},
		{"cert", required_argument, NULL, O_CERT},
		{"ca", required_argument, NULL, O_CA},
		{"log-level", required_argument, NULL, O_LOG_LEVEL},
		{"check-config", no_argument, NULL, O_CHECK},
		{"version", no_argument, NULL, O_VERSION},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	static struct agent a; /* large (receive buffer); one per process */
	struct agent_config_err err;
	enum weft_log_level level;
	const char *file = NULL, *dir = NULL, *sock;
	bool check = false, explicit_dir = false;
	json_t *flags = json_object(), *checked = NULL;
	uv_loop_t *loop;
	char *text;
	int c, rc;

#ifdef __GLIBC__
	/* Buffers of 64 KiB and more (push-pull messages, the proxy's) get
	 * their own mappings and go back to the kernel when freed, instead
	 * of raising the heap's top; a fixed threshold also stops glibc
	 * from raising it after the first such free.  One arena until the
	 * data plane starts its worker threads (agent/proxy_workers.c). */
	mallopt(M_MMAP_THRESHOLD, 64 * 1024);
	mallopt(M_TRIM_THRESHOLD, 128 * 1024);
	mallopt(M_ARENA_MAX, 1);
#endif
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG: file = optarg; break;
		case O_CONFIG_DIR: dir = optarg; explicit_dir = true; break;
		case O_NODE: set_flag(flags, "node_name", optarg); break;
		case O_BIND: set_flag(flags, "bind", optarg); break;
		case O_ADVERTISE: set_flag(flags, "advertise", optarg); break;
		case O_JOIN: set_flag(flags, "join", optarg); break;
		case O_DATA_DIR: set_flag(flags, "data_dir", optarg); break;
		case O_SOCKET: set_flag(flags, "socket", optarg); break;
		case O_KEY: set_flag(flags, "identity.key", optarg); break;
		case O_CERT: set_flag(flags, "identity.cert", optarg); break;
		case O_CA: set_flag(flags, "identity.ca", optarg); break;
		case O_LOG_LEVEL: set_flag(flags, "log_level", optarg); break;
		case O_CHECK: check = true; break;
		case O_VERSION: printf("weftd %s\n", WEFT_VERSION); return 0;
		case O_HELP: usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "weftd: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	/* libuv writes with write(2): a client gone mid-answer must be an
	 * error on that write, not the end of the agent. */
	signal(SIGPIPE, SIG_IGN);
	if (sodium_init() < 0) {
		fprintf(stderr, "weftd: libsodium failed to initialise\n");
		return 1;
	}
	/* A non-root agent without --socket puts its socket in its own
	 * runtime directory, not in /run. */
	sock = default_socket();
	if (sock && !json_object_get(flags, "socket"))
		json_object_set_new(flags, "socket", json_string(sock));
	text = json_dumps(flags, JSON_COMPACT);
	rc = agent_config_parse_doc("command line", text, strlen(text), &checked,
	                            &err);
	free(text);
	json_decref(flags);
	if (rc) {
		fprintf(stderr, "weftd: %s\n", err.msg);
		return 1;
	}
	a.flags = checked;
	a.sources.file = file ? file : AGENT_DEFAULT_CONFIG;
	a.sources.file_required = file != NULL;
	/* --config alone means that file alone; the default file comes with
	 * its conf.d. */
	a.sources.dir = explicit_dir ? dir : file ? NULL : AGENT_DEFAULT_CONFIG_DIR;
	a.sources.flags = a.flags;
	rc = agent_config_load(&a.sources, &a.cfg, &err);
	if (rc) {
		fprintf(stderr, "weftd: %s\n", err.msg);
		agent_config_free(&a.cfg);
		json_decref(a.flags);
		return 1;
	}
	if (check) {
		text = json_dumps(a.cfg.effective, JSON_INDENT(2) | JSON_SORT_KEYS);
		printf("%s\nconfiguration OK\n", text);
		free(text);
		agent_config_free(&a.cfg);
		json_decref(a.flags);
		return 0;
	}
	weft_log_level_parse(a.cfg.log_level, &level);
	agent_log_stderr(&a.log, level);
	loop = uv_default_loop();
	rc = agent_start(&a, loop);
	if (rc == 0) {
		shed_startup_pages();
		uv_run(loop, UV_RUN_DEFAULT);
	}
	if (a.g) {
		gossip_free(a.g);
		a.g = NULL;
	}
	/* Let close callbacks run before the loop goes. */
	uv_run(loop, UV_RUN_NOWAIT);
	agent_proxy_free(&a);
	uv_loop_close(loop);
	agent_identity_free(&a.id);
	agent_config_free(&a.cfg);
	json_decref(a.flags);
	return rc ? 1 : a.exit_code;
}
