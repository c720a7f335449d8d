/* Reading the configuration files; the parsing is in config.c. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/config.h"
#include "agent/config_load.h"
#include "common/err.h"
#include "common/file.h"

#define CONFIG_FILE_MAX (1u << 20)

static int
load_one(json_t *merged, const char *path, bool must_exist,
         struct agent_config_err *err)
{
	uint8_t *text;
	size_t len;
	json_t *doc;
	int rc = file_read(path, CONFIG_FILE_MAX, &text, &len);

	if (rc == WEFT_ENOENT && !must_exist)
		return 0;
	if (rc) {
		snprintf(err->msg, sizeof(err->msg), "%s: cannot read: %s", path,
		         weft_strerror(rc));
		return rc;
	}
	rc = agent_config_parse_doc(path, (const char *)text, len, &doc, err);
	free(text);
	if (rc)
		return rc;
	agent_config_merge(merged, doc);
	json_decref(doc);
	return 0;
}

static int
json_suffix(const struct dirent *e)
{
	size_t n = strlen(e->d_name);

	return e->d_name[0] != '.' && n > 5 &&
	       strcmp(e->d_name + n - 5, ".json") == 0;
}

int
agent_config_load(const struct agent_config_sources *src,
                  struct agent_config *out, struct agent_config_err *err)
{
	json_t *merged = json_object();
	struct dirent **names = NULL;
	int n, rc = 0;

	memset(out, 0, sizeof(*out));
	if (merged == NULL)
		return WEFT_ENOMEM;
	if (src->file)
		rc = load_one(merged, src->file, src->file_required, err);
	if (rc == 0 && src->dir) {
		n = scandir(src->dir, &names, json_suffix, alphasort);
		for (int i = 0; i < n; i++) {
			char path[4096];

			if (rc == 0) {
				snprintf(path, sizeof(path), "%s/%s", src->dir,
				         names[i]->d_name);
				rc = load_one(merged, path, true, err);
			}
			free(names[i]);
		}
		free(names);
	}
	if (rc == 0 && src->flags)
		agent_config_merge(merged, src->flags);
	if (rc == 0)
		rc = agent_config_build(merged, out, err);
	json_decref(merged);
	return rc;
}
