/* The push-pull stream message decoder and the records inside it. */
#include <stdint.h>
#include <stdlib.h>

#include "gossip/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct wire_stream s;
	const char *why = NULL;

	if (wire_decode_stream(data, size, &s, &why) != 0) {
		if (why == NULL)
			abort();
		return 0;
	}
	for (size_t i = 0; i < s.n_entries; i++) {
		struct gossip_record *r = NULL;
		const uint8_t *body;
		size_t body_len;
		uint8_t sig[KEY_SIG_LEN];

		if (wire_decode_record(s.entries[i].rec, s.entries[i].rec_len, &r,
		                       &body, &body_len, sig, &why) == 0)
			free(r);
		if (s.entries[i].leave) {
			struct wire_leave lv;

			wire_decode_leave(s.entries[i].leave, s.entries[i].leave_len,
			                  &lv, &why);
		}
	}
	for (size_t i = 0; i < s.n_objs; i++) {
		struct wire_object o;

		wire_decode_object(s.objs[i].obj, s.objs[i].obj_len, &o, &why);
	}
	wire_stream_fini(&s);
	return 0;
}
