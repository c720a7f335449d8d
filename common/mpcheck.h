/*
 * A bounds check for msgpack bytes from the network, run before msgpack-c
 * unpacks them.  msgpack-c allocates a container's elements as soon as it
 * reads the header, so five hostile bytes announcing 2^32 elements would
 * make it allocate tens of gigabytes.  This walk reads only the type and
 * length headers (it builds nothing) and accepts the bytes only when every
 * announced length fits in what remains and nesting stays shallow; after
 * that an unpack allocates at most a small multiple of the input size.
 */
#ifndef WEFT_COMMON_MPCHECK_H
#define WEFT_COMMON_MPCHECK_H

#include <stddef.h>
#include <stdint.h>

#define MPCHECK_MAX_DEPTH 16

/*
 * Checks that p starts with one complete msgpack object of at most
 * max_depth nesting, and stores its length in *obj_len.  WEFT_ETRUNC when
 * it is cut short, WEFT_EMALFORMED for a reserved type byte, an announced
 * length that cannot fit, or deeper nesting.
 */
int mpcheck_object(const uint8_t *p, size_t len, unsigned max_depth,
                   size_t *obj_len);

#endif
