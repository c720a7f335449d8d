/* HTTP/2 apps behind the remote side: not yet. */
#include "agent/http_back_int.h"

int
hb_h2_start(struct hb_req *r)
{
	hb_fail(r, "HTTP/2 apps are not supported yet");
	return -1;
}

void
hb_h2_event(struct hb_req *r, const struct mesh_event *ev)
{
	(void)r;
	(void)ev;
}

void
hb_h2_stop_all(struct http_back_set *set)
{
	(void)set;
}
