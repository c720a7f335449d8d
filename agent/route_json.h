/*
 * Route objects' values (docs/PROTOCOL.md, "Route objects (value
 * format)"): JSON text in, the proxy's struct route_spec out.  Pure: no
 * files, no clock.  The CLI validates with it before signing, the agent
 * decodes gossiped objects with it.
 *
 * Errors name the JSON path and the reason, e.g.
 *   routes[1].retry.on[2]: "5xxx" is not a retry condition
 */
#ifndef WEFT_AGENT_ROUTE_JSON_H
#define WEFT_AGENT_ROUTE_JSON_H

#include <stddef.h>

#include "proxy/route.h"

#define ROUTE_JSON_MAX_BYTES 8192 /* a cluster object's value */
#define ROUTE_JSON_ERR_MAX 256

struct route_json;

/*
 * Decodes len bytes of text.  On success *out owns the spec and every
 * string and array it points to; free it with route_json_free().  On
 * failure (WEFT_EMALFORMED for JSON that does not parse, WEFT_EINVAL for
 * a shape the format refuses, WEFT_ETOOBIG, WEFT_ENOMEM) *out is NULL and
 * err (when not NULL) holds one line.
 */
int route_json_parse(const char *text, size_t len, struct route_json **out,
                     char *err, size_t err_len);
const struct route_spec *route_json_spec(const struct route_json *r);
void route_json_free(struct route_json *r);

#endif
