/*
 * json_get PATH < doc.json: prints the value at PATH, for the CLI tests
 * (jq may not be installed where they run).
 *
 * PATH is dot-separated: object keys, array indexes, and a final "length"
 * for the size of an array or object: "certificates.0.name",
 * "certificates.length".  Strings print raw, arrays of strings joined with
 * commas, null as "null".  Exit 1 when PATH is not there, 2 when the input
 * is not JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

static json_t *
step(json_t *v, const char *seg)
{
	char *end;
	long i;

	if (json_is_object(v))
		return json_object_get(v, seg);
	if (!json_is_array(v))
		return NULL;
	i = strtol(seg, &end, 10);
	if (*seg == '\0' || *end != '\0' || i < 0)
		return NULL;
	return json_array_get(v, (size_t)i);
}

static int
print_value(json_t *v)
{
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		printf("%s\n", json_string_value(v));
		return 0;
	case JSON_INTEGER:
		printf("%" JSON_INTEGER_FORMAT "\n", json_integer_value(v));
		return 0;
	case JSON_NULL:
		printf("null\n");
		return 0;
	case JSON_TRUE:
	case JSON_FALSE:
		printf("%s\n", json_is_true(v) ? "true" : "false");
		return 0;
	case JSON_ARRAY:
		for (i = 0; i < json_array_size(v); i++) {
			json_t *e = json_array_get(v, i);

			if (!json_is_string(e))
				return 1;
			printf("%s%s", i ? "," : "", json_string_value(e));
		}
		printf("\n");
		return 0;
	default:
		return 1;
	}
}

int
main(int argc, char **argv)
{
	json_error_t err;
	json_t *doc, *v;
	char *path, *seg, *save = NULL;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: json_get PATH < doc.json\n");
		return 2;
	}
	doc = json_loadf(stdin, 0, &err);
	if (doc == NULL) {
		fprintf(stderr, "json_get: not JSON: %s (line %d)\n", err.text,
		        err.line);
		return 2;
	}
	path = strdup(argv[1]);
	if (path == NULL)
		return 2;
	v = doc;
	for (seg = strtok_r(path, ".", &save); seg != NULL && v != NULL;
	     seg = strtok_r(NULL, ".", &save)) {
		if (strcmp(seg, "length") == 0 &&
		    (json_is_array(v) || json_is_object(v))) {
			printf("%zu\n", json_is_array(v) ? json_array_size(v)
			                                 : json_object_size(v));
			rc = 0;
			v = NULL;
			break;
		}
		v = step(v, seg);
		if (v == NULL)
			break;
	}
	if (v != NULL)
		rc = print_value(v);
	if (rc)
		fprintf(stderr, "json_get: no value at %s\n", argv[1]);
	free(path);
	json_decref(doc);
	return rc;
}
