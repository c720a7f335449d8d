/*
 * The gossip packet decoder (a sealed packet's plaintext) and the
 * decoders of what it carries: records, leave intents, objects.
 */
#include <stdint.h>
#include <stdlib.h>

#include "gossip/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct wire_msg msgs[WIRE_MAX_MSGS];
	size_t n, skipped;
	const char *why = NULL;

	if (wire_decode_packet(data, size, msgs, &n, &skipped, &why) != 0) {
		if (why == NULL)
			abort(); /* every refusal names its reason */
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const struct wire_msg *m = &msgs[i];

		if (m->type == WIRE_ALIVE) {
			struct gossip_record *r = NULL;
			const uint8_t *body;
			size_t body_len;
			uint8_t sig[KEY_SIG_LEN];

			if (wire_decode_record(m->a, m->a_len, &r, &body, &body_len,
			                       sig, &why) == 0)
				free(r);
		} else if (m->type == WIRE_LEAVE) {
			struct wire_leave lv;

			wire_decode_leave(m->a, m->a_len, &lv, &why);
		} else if (m->type == WIRE_OBJECT) {
			struct wire_object o;

			wire_decode_object(m->a, m->a_len, &o, &why);
		}
	}
	return 0;
}
