/* The local API's endpoints, on top of agent/api*.  */
#ifndef WEFT_AGENT_HANDLERS_H
#define WEFT_AGENT_HANDLERS_H

#include "gossip/gossip.h"

struct agent;

int agent_handlers_start(struct agent *a);
void agent_handlers_stop(struct agent *a);
/* Gossip events, streamed to `GET /v1/events` clients. */
void agent_handlers_event(struct agent *a, const struct gossip_event *ev);

#endif
