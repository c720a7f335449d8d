/*
 * systemd's notify protocol, spoken directly: one datagram to
 * $NOTIFY_SOCKET.  Without that variable every call does nothing.
 */
#ifndef WEFT_AGENT_NOTIFY_H
#define WEFT_AGENT_NOTIFY_H

#include <stdint.h>

/* Sends state (e.g. "READY=1"); returns 0 or a negative WEFT_E code. */
int agent_notify(const char *state);
/* The watchdog interval systemd asked for in microseconds, or 0. */
uint64_t agent_notify_watchdog_usec(void);

#endif
