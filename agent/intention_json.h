/*
 * Intention objects' values (docs/PROTOCOL.md, "Intention objects"):
 * JSON text in, the proxy's struct table_intention out, with its optional
 * L7 rules ("http").  Pure: no files, no clock.  The CLI validates with
 * it before signing, the agent decodes gossiped objects with it.
 *
 * Errors name the JSON path and the reason, e.g.
 *   http[0].methods[1]: "get me" is not an HTTP method token
 */
#ifndef WEFT_AGENT_INTENTION_JSON_H
#define WEFT_AGENT_INTENTION_JSON_H

#include <stddef.h>

#include "proxy/table.h"

#define INTENTION_JSON_ERR_MAX 256
#define INTENTION_PREFIX_MAX 1024 /* bytes of an http rule's path_prefix */
#define INTENTION_METHOD_MAX 32

struct intention_json;

/*
 * Decodes len bytes of text: {"source", "destination", "action"} and,
 * for an allow, an optional "http" list of {"path_prefix", "methods"}.
 * On success *out owns the intention and everything it points to (its
 * name is NULL: the object's name is the caller's); free it with
 * intention_json_free().  On failure (WEFT_EMALFORMED for JSON that does
 * not parse, WEFT_EINVAL for a shape the format refuses, WEFT_ENOMEM)
 * *out is NULL and err (when not NULL) holds one line.
 */
int intention_json_parse(const char *text, size_t len,
                         struct intention_json **out, char *err,
                         size_t err_len);
const struct table_intention *intention_json_get(const struct intention_json *i);
void intention_json_free(struct intention_json *i);

#endif
