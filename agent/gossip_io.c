/* The gossip core on UDP, and its one timer. */
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <linux/errqueue.h>

#include "agent/agent.h"
#include "common/err.h"

static void
on_tick(uv_timer_t *t)
{
	struct agent *a = t->data;

	gossip_tick(a->g, agent_now_ms(a));
	agent_flush(a);
}

static void
alloc_rx(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct agent *a = h->data;

	(void)hint;
	/* One receive buffer, reused: libuv hands us one datagram at a time
	 * and the core copies what it keeps. */
	buf->base = (char *)a->rxbuf;
	buf->len = sizeof(a->rxbuf);
}

/*
 * With IP_RECVERR the kernel keeps the ICMP errors our packets drew, each
 * with the destination of the packet that drew it.  Port unreachable for
 * a member's gossip address says its agent is gone from a live host: the
 * core probes it at once instead of when its turn comes.  The queue must
 * be read whenever it has anything: it keeps the socket readable.
 */
static void
drain_errors(struct agent *a)
{
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&a->udp, &fd) != 0)
		return;
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage dst;
		union {
			char buf[CMSG_SPACE(sizeof(struct sock_extended_err) +
			                    sizeof(struct sockaddr_in6))];
			struct cmsghdr align;
		} ctl;
		uint8_t payload[64];
		struct iovec iov = {payload, sizeof(payload)};
		struct msghdr mh = {
			.msg_name = &dst, .msg_namelen = sizeof(dst),
			.msg_iov = &iov, .msg_iovlen = 1,
			.msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf),
		};
		struct cmsghdr *c;
		bool refused = false;
		struct gossip_addr to;

		if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
			return;
		for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
			struct sock_extended_err ee;

			if (!((c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
			      (c->cmsg_level == SOL_IPV6 &&
			       c->cmsg_type == IPV6_RECVERR)))
				continue;
			memcpy(&ee, CMSG_DATA(c), sizeof(ee));
			refused = ee.ee_errno == ECONNREFUSED &&
			          (ee.ee_origin == SO_EE_ORIGIN_ICMP ||
			           ee.ee_origin == SO_EE_ORIGIN_ICMP6);
		}
		if (refused &&
		    agent_addr_from_sockaddr((struct sockaddr *)&dst, &to) == 0)
			gossip_recv_refused(a->g, agent_now_ms(a), &to);
	}
}

static void
on_udp(uv_udp_t *u, ssize_t n, const uv_buf_t *buf,
       const struct sockaddr *from, unsigned flags)
{
	struct agent *a = u->data;
	struct gossip_addr src;
	int rc;

	(void)buf;
	if (n < 0) {
		drain_errors(a);
		agent_flush(a);
		return;
	}
	if (n == 0 || from == NULL)
		return;
	if (flags & UV_UDP_PARTIAL) {
		weft_logf(&a->log, WEFT_LOG_DEBUG, "msg=\"dropped truncated "
		          "datagram\"");
		return;
	}
	if (agent_addr_from_sockaddr(from, &src) != 0)
		return;
	rc = gossip_recv_packet(a->g, agent_now_ms(a), &src, a->rxbuf,
	                        (size_t)n);
	if (rc) {
		char addr[64];

		agent_addr_format(&src, addr, sizeof(addr));
		weft_logf(&a->log, WEFT_LOG_DEBUG, "msg=\"dropped packet\" "
		          "from=%s reason=\"%s\"", addr,
		          gossip_get_stats(a->g)->last_reason
		              ? gossip_get_stats(a->g)->last_reason
		              : weft_strerror(rc));
	}
	agent_flush(a);
}

void
agent_flush(struct agent *a)
{
	struct gossip_packet p;
	struct gossip_stream_msg m;
	int64_t now, next;

	while (gossip_pop_packet(a->g, &p)) {
		struct sockaddr_storage ss;
		uv_buf_t b = uv_buf_init((char *)p.data, (unsigned)p.len);

		/* UDP is allowed to lose packets; a full socket buffer is one
		 * more way, and SWIM is built for it. */
		/* An ICMP error still pending fails the next send with it
		 * (IP_RECVERR): read the queue, then send once more. */
		if (agent_addr_to_sockaddr(&p.to, &ss) == 0 &&
		    uv_udp_try_send(&a->udp, &b, 1, (struct sockaddr *)&ss) ==
		        UV_ECONNREFUSED) {
			drain_errors(a);
			uv_udp_try_send(&a->udp, &b, 1, (struct sockaddr *)&ss);
		}
		free(p.data);
	}
	while (gossip_pop_stream(a->g, &m))
		agent_stream_send(a, &m.to, m.data, m.len); /* takes m.data */
	now = agent_now_ms(a);
	next = gossip_next_deadline(a->g);
	uv_timer_start(&a->tick, on_tick,
	               next <= now ? 0 : (uint64_t)(next - now), 0);
	/* Member events mark the snapshot; our own incarnation changes
	 * without one (a refutation), so watch it here. */
	{
		const struct gossip_record *self;
		enum gossip_state st;

		if (gossip_member_get(a->g, gossip_self_id(a->g), &st, &self) == 0 &&
		    self->incarnation != a->snap_inc)
			agent_snapshot_mark(a);
	}
}

int
agent_gossip_io_start(struct agent *a)
{
	struct sockaddr_storage ss;
	struct gossip_addr bind;
	int rc;

	rc = agent_addr_from_hostport(&a->cfg.bind, &bind);
	if (rc == 0)
		rc = agent_addr_to_sockaddr(&bind, &ss);
	if (rc)
		return rc;
	uv_udp_init(a->loop, &a->udp);
	a->udp.data = a;
	rc = uv_udp_bind(&a->udp, (struct sockaddr *)&ss, 0);
	if (rc == 0) {
		uv_os_fd_t fd;
		int on = 1;

		/* ICMP errors for our packets, with their destinations
		 * (drain_errors); without it an unconnected socket hears
		 * none. */
		if (uv_fileno((uv_handle_t *)&a->udp, &fd) == 0)
			(void)setsockopt(fd, ss.ss_family == AF_INET6 ? SOL_IPV6
			                                              : SOL_IP,
			                 ss.ss_family == AF_INET6 ? IPV6_RECVERR
			                                          : IP_RECVERR,
			                 &on, sizeof(on));
		rc = uv_udp_recv_start(&a->udp, alloc_rx, on_udp);
	}
	if (rc) {
		char addr[64];

		agent_addr_format(&bind, addr, sizeof(addr));
		weft_logf(&a->log, WEFT_LOG_ERROR, "msg=\"cannot bind gossip "
		          "UDP\" addr=%s error=\"%s\"", addr, uv_strerror(rc));
		return WEFT_EIO;
	}
	uv_timer_init(a->loop, &a->tick);
	a->tick.data = a;
	return 0;
}

void
agent_gossip_io_stop(struct agent *a)
{
	uv_udp_recv_stop(&a->udp);
	uv_close((uv_handle_t *)&a->udp, NULL);
	uv_timer_stop(&a->tick);
	uv_close((uv_handle_t *)&a->tick, NULL);
}
