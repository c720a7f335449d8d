#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "agent/agent.h"
#include "common/err.h"

int
agent_addr_from_hostport(const struct agent_hostport *hp,
                         struct gossip_addr *out)
{
	memset(out, 0, sizeof(*out));
	out->port = hp->port;
	if (inet_pton(AF_INET, hp->host, out->ip) == 1) {
		out->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, hp->host, out->ip) == 1) {
		out->family = 6;
		return 0;
	}
	return WEFT_EINVAL;
}

int
agent_addr_to_sockaddr(const struct gossip_addr *a,
                       struct sockaddr_storage *out)
{
	memset(out, 0, sizeof(*out));
	if (a->family == 4) {
		struct sockaddr_in *in = (struct sockaddr_in *)out;

		in->sin_family = AF_INET;
		in->sin_port = htons(a->port);
		memcpy(&in->sin_addr, a->ip, 4);
		return 0;
	}
	if (a->family == 6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)out;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(a->port);
		memcpy(&in6->sin6_addr, a->ip, 16);
		return 0;
	}
	return WEFT_EINVAL;
}

int
agent_addr_from_sockaddr(const struct sockaddr *sa, struct gossip_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)sa;

		out->family = 4;
		out->port = ntohs(in->sin_port);
		memcpy(out->ip, &in->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;

		out->family = 6;
		out->port = ntohs(in6->sin6_port);
		memcpy(out->ip, &in6->sin6_addr, 16);
		return 0;
	}
	return WEFT_EINVAL;
}

void
agent_addr_format(const struct gossip_addr *a, char *out, size_t cap)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->family == 4)
		inet_ntop(AF_INET, a->ip, ip, sizeof(ip));
	else if (a->family == 6)
		inet_ntop(AF_INET6, a->ip, ip, sizeof(ip));
	snprintf(out, cap, a->family == 6 ? "[%s]:%u" : "%s:%u", ip,
	         (unsigned)a->port);
}
