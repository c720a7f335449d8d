#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include <cmocka.h>

#include "proxy/h2mem.h"

/* Sizes in one class (65..128 bytes). */
static void
test_reuses_freed_block(void **state)
{
	struct h2mem m;
	void *p, *q;

	(void)state;
	h2mem_init(&m, 0);
	p = h2mem_malloc(&m, 100);
	assert_non_null(p);
	memset(p, 0xab, 100);
	h2mem_release(&m, p);
	q = h2mem_malloc(&m, 120);
	assert_ptr_equal(p, q);
	assert_int_equal(m.fresh, 1);
	assert_int_equal(m.reused, 1);
	/* Another class is another list. */
	h2mem_release(&m, q);
	p = h2mem_malloc(&m, 300);
	assert_ptr_not_equal(p, q);
	assert_int_equal(m.fresh, 2);
	h2mem_release(&m, p);
	h2mem_clear(&m);
	assert_int_equal(m.cached, 0);
}

static void
test_alignment(void **state)
{
	struct h2mem m;
	void *p[H2MEM_N_CLASSES + 1];

	(void)state;
	h2mem_init(&m, 0);
	for (unsigned i = 0; i <= H2MEM_N_CLASSES; i++) {
		p[i] = h2mem_malloc(&m, ((size_t)H2MEM_MIN_CLASS << i) - 3);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % _Alignof(max_align_t), 0);
	}
	for (unsigned i = 0; i <= H2MEM_N_CLASSES; i++)
		h2mem_release(&m, p[i]);
	h2mem_clear(&m);
}

static void
test_cache_is_bounded(void **state)
{
	struct h2mem m;
	void *p[4];

	(void)state;
	/* Room for two 64-byte blocks and their headers, not three. */
	h2mem_init(&m, 2 * (64 + 32));
	for (int i = 0; i < 4; i++)
		assert_non_null(p[i] = h2mem_malloc(&m, 64));
	for (int i = 0; i < 4; i++)
		h2mem_release(&m, p[i]);
	assert_true(m.cached <= 2 * (64 + 32));
	assert_true(m.cached > 0);
	for (int i = 0; i < 4; i++)
		assert_non_null(p[i] = h2mem_malloc(&m, 64));
	assert_int_equal(m.reused, 2);
	assert_int_equal(m.fresh, 6);
	for (int i = 0; i < 4; i++)
		h2mem_release(&m, p[i]);
	h2mem_clear(&m);
}

static void
test_large_not_pooled(void **state)
{
	struct h2mem m;
	void *p;

	(void)state;
	h2mem_init(&m, 0);
	p = h2mem_malloc(&m, H2MEM_MAX_CLASS + 1);
	assert_non_null(p);
	memset(p, 1, H2MEM_MAX_CLASS + 1);
	h2mem_release(&m, p);
	assert_int_equal(m.cached, 0);
	h2mem_clear(&m);
}

static void
test_calloc_zeroes_reused(void **state)
{
	struct h2mem m;
	uint8_t *p;

	(void)state;
	h2mem_init(&m, 0);
	p = h2mem_malloc(&m, 200);
	memset(p, 0xff, 200);
	h2mem_release(&m, p);
	p = h2mem_calloc(&m, 10, 20);
	assert_int_equal(m.reused, 1);
	for (int i = 0; i < 200; i++)
		assert_int_equal(p[i], 0);
	h2mem_release(&m, p);
	assert_null(h2mem_calloc(&m, SIZE_MAX / 2, 4));
	h2mem_clear(&m);
}

static void
test_realloc_keeps_bytes(void **state)
{
	struct h2mem m;
	uint8_t *p, *q;

	(void)state;
	h2mem_init(&m, 0);
	p = h2mem_malloc(&m, 40);
	for (int i = 0; i < 40; i++)
		p[i] = (uint8_t)i;
	/* Within the block's class: in place. */
	assert_ptr_equal(h2mem_realloc(&m, p, 64), p);
	q = h2mem_realloc(&m, p, 3000);
	assert_non_null(q);
	for (int i = 0; i < 40; i++)
		assert_int_equal(q[i], i);
	q = h2mem_realloc(&m, q, 10000);
	for (int i = 0; i < 40; i++)
		assert_int_equal(q[i], i);
	h2mem_release(&m, q);
	assert_non_null(p = h2mem_realloc(&m, NULL, 10));
	h2mem_release(&m, p);
	h2mem_clear(&m);
}

/* ---- a client and a server session in memory, both on pools ---- */

struct side {
	nghttp2_session *h2;
	struct h2mem mem;
	int responses;
};

static int
on_frame(nghttp2_session *h2, const nghttp2_frame *f, void *ud)
{
	struct side *sd = ud;
	const nghttp2_nv rsp[] = {
		{(uint8_t *)":status", (uint8_t *)"200", 7, 3, 0},
		{(uint8_t *)"content-type", (uint8_t *)"text/plain", 12, 10, 0},
	};

	if (f->hd.type != NGHTTP2_HEADERS ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	if (nghttp2_session_check_server_session(h2))
		return nghttp2_submit_response(h2, f->hd.stream_id, rsp, 2,
		    NULL);
	sd->responses++;
	return 0;
}

static void
side_new(struct side *sd, bool server)
{
	nghttp2_session_callbacks *cbs;
	nghttp2_option *opt;
	nghttp2_mem mem;

	memset(sd, 0, sizeof(*sd));
	h2mem_init(&sd->mem, 0);
	h2mem_mem(&sd->mem, &mem);
	assert_int_equal(nghttp2_session_callbacks_new(&cbs), 0);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
	/* As the mesh runs it: closed streams are not kept (else a session
	 * grows its set of them up to a limit, warm or not). */
	assert_int_equal(nghttp2_option_new(&opt), 0);
	nghttp2_option_set_no_closed_streams(opt, 1);
	if (server)
		assert_int_equal(nghttp2_session_server_new3(&sd->h2, cbs, sd,
		    opt, &mem), 0);
	else
		assert_int_equal(nghttp2_session_client_new3(&sd->h2, cbs, sd,
		    opt, &mem), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cbs);
	assert_int_equal(nghttp2_submit_settings(sd->h2, 0, NULL, 0), 0);
}

static void
pump(struct side *from, struct side *to)
{
	for (int i = 0; i < 100; i++) {
		const uint8_t *p;
		ssize_t n = nghttp2_session_mem_send(from->h2, &p);

		assert_true(n >= 0);
		if (n == 0)
			return;
		assert_int_equal(nghttp2_session_mem_recv(to->h2, p,
		    (size_t)n), n);
	}
	fail_msg("the sessions never went quiet");
}

static void
exchange(struct side *cli, struct side *srv, int streams)
{
	const nghttp2_nv req[] = {
		{(uint8_t *)":method", (uint8_t *)"GET", 7, 3, 0},
		{(uint8_t *)":scheme", (uint8_t *)"http", 7, 4, 0},
		{(uint8_t *)":path", (uint8_t *)"/a/path", 5, 7, 0},
		{(uint8_t *)":authority", (uint8_t *)"svc", 10, 3, 0},
		{(uint8_t *)"user-agent", (uint8_t *)"test", 10, 4, 0},
	};

	for (int i = 0; i < streams; i++) {
		assert_true(nghttp2_submit_request(cli->h2, NULL, req, 5, NULL,
		    NULL) > 0);
		pump(cli, srv);
		pump(srv, cli);
		pump(cli, srv);
	}
}

/* The point of the pool: a warm session pair opens and closes streams
 * without a single fresh block. */
static void
test_warm_sessions_allocate_nothing(void **state)
{
	struct side cli, srv;
	uint64_t cf, sf;

	(void)state;
	side_new(&cli, false);
	side_new(&srv, true);
	exchange(&cli, &srv, 20);
	assert_int_equal(cli.responses, 20);
	cf = cli.mem.fresh;
	sf = srv.mem.fresh;
	exchange(&cli, &srv, 200);
	assert_int_equal(cli.responses, 220);
	assert_int_equal(cli.mem.fresh, cf);
	assert_int_equal(srv.mem.fresh, sf);
	/* ... because the streams' blocks came back from the lists. */
	assert_true(cli.mem.reused >= 200);
	assert_true(srv.mem.reused >= 200);
	nghttp2_session_del(cli.h2);
	nghttp2_session_del(srv.h2);
	h2mem_clear(&cli.mem);
	h2mem_clear(&srv.mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reuses_freed_block),
		cmocka_unit_test(test_alignment),
		cmocka_unit_test(test_cache_is_bounded),
		cmocka_unit_test(test_large_not_pooled),
		cmocka_unit_test(test_calloc_zeroes_reused),
		cmocka_unit_test(test_realloc_keeps_bytes),
		cmocka_unit_test(test_warm_sessions_allocate_nothing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
