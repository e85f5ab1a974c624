/*
 * test_resources.c - the pure decode of the resource keys (cgroups_v1,
 * rlimits, nice, cpus, timeout, kill_timeout; resources_wire.c): values,
 * defaults and every refusal named by its path.
 */
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>

#include <ei.h>

#include "request.h"
#include "test.h"

/* {:spawn, %{argv: ["a"], <key>: ...}}: the caller encodes the value */
static void with_key(ei_x_buff *x, const char *key)
{
	ei_x_new_with_version(x);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "spawn");
	ei_x_encode_map_header(x, 2);
	ei_x_encode_atom(x, "argv");
	ei_x_encode_list_header(x, 1);
	ei_x_encode_binary(x, "a", 1);
	ei_x_encode_empty_list(x);
	ei_x_encode_atom(x, key);
}

static void refused(ei_x_buff *x, const char *msg)
{
	struct linx_request r;
	struct linx_err e;

	memset(&e, 0, sizeof(e));
	CHECK(request_decode(x->buff, x->index, &r, &e) == -1);
	CHECK(e.stage == STAGE_MALFORMED_REQUEST);
	CHECK_STR(e.msg, msg);
	request_free(&r);
	ei_x_free(x);
}

static void rlimit_entry(ei_x_buff *x, const char *name, uint64_t soft,
			 uint64_t hard)
{
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_atom(x, name);
	ei_x_encode_ulonglong(x, soft);
	ei_x_encode_ulonglong(x, hard);
}

/* Every key decoded, and the defaults when absent */
static void test_resources_decoded(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 7);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_binary(&x, "a", 1);
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "cgroups_v1");
	ei_x_encode_list_header(&x, 2);
	ei_x_encode_binary(&x, "/m/g", 4);
	ei_x_encode_binary(&x, "/p/g", 4);
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "rlimits");
	ei_x_encode_list_header(&x, 2);
	rlimit_entry(&x, "nofile", 32, 64);
	rlimit_entry(&x, "core", 0, UINT64_MAX);
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "nice");
	ei_x_encode_long(&x, -20);
	ei_x_encode_atom(&x, "cpus");
	ei_x_encode_list_header(&x, 2);
	ei_x_encode_long(&x, 1);
	ei_x_encode_long(&x, 65);
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "timeout");
	ei_x_encode_long(&x, 300);
	ei_x_encode_atom(&x, "kill_timeout");
	ei_x_encode_long(&x, 0);

	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(r.limits.ncgroups == 2);
	CHECK(r.limits.ncgroups == 2 && !strcmp(r.limits.cgroups_v1[1], "/p/g"));
	CHECK(r.limits.nrlimits == 2);
	CHECK(r.limits.rlimits[0].resource == RLIMIT_NOFILE);
	CHECK(r.limits.rlimits[0].soft == 32 && r.limits.rlimits[0].hard == 64);
	CHECK(r.limits.rlimits[1].resource == RLIMIT_CORE);
	CHECK(r.limits.rlimits[1].hard == UINT64_MAX);
	CHECK(r.limits.has_nice && r.limits.nice == -20);
	CHECK(r.limits.has_cpus && r.limits.cpus[0] == 2 &&
	      r.limits.cpus[1] == 2);
	CHECK(r.limits.timeout_ms == 300 && r.limits.kill_timeout_ms == 0);
	CHECK(limits_needed(&r.limits));
	request_free(&r);
	ei_x_free(&x);

	with_key(&x, "unknown");
	ei_x_encode_atom(&x, "x");
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(!limits_needed(&r.limits) && !r.limits.timeout_ms);
	CHECK(r.limits.kill_timeout_ms == LIMITS_KILL_TIMEOUT_DEFAULT);
	request_free(&r);
	ei_x_free(&x);
}

/* Each wrong shape or value refused, named by its path */
static void test_resources_refused(void)
{
	ei_x_buff x;
	int i;

	with_key(&x, "rlimits");
	ei_x_encode_list_header(&x, 1);
	rlimit_entry(&x, "nofiles", 1, 1);
	ei_x_encode_empty_list(&x);
	refused(&x, "opts.rlimits[0].name: unknown rlimit :nofiles");

	with_key(&x, "rlimits");
	ei_x_encode_list_header(&x, 1);
	rlimit_entry(&x, "nofile", 10, 5);
	ei_x_encode_empty_list(&x);
	refused(&x, "opts.rlimits[0]: soft limit above the hard one");

	with_key(&x, "nice");
	ei_x_encode_long(&x, 20);
	refused(&x, "opts.nice: expected -20..19");

	with_key(&x, "nice");
	ei_x_encode_long(&x, -21);
	refused(&x, "opts.nice: expected -20..19");

	with_key(&x, "cpus");
	ei_x_encode_empty_list(&x);
	refused(&x, "opts.cpus: expected a non-empty list");

	with_key(&x, "cpus");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_long(&x, 1024);
	ei_x_encode_empty_list(&x);
	refused(&x, "opts.cpus[0]: 1024 out of range 0..1023");

	with_key(&x, "timeout");
	ei_x_encode_long(&x, 0);
	refused(&x, "opts.timeout: 0 out of range 1..4294967296");

	with_key(&x, "cgroups_v1");
	ei_x_encode_list_header(&x, 9);
	for (i = 0; i < 9; i++)
		ei_x_encode_binary(&x, "/g", 2);
	ei_x_encode_empty_list(&x);
	refused(&x, "opts.cgroups_v1: at most 8 groups, got 9");
}

TESTS(resources_tests) = {
	{ "resources: every key decoded, defaults", test_resources_decoded },
	{ "resources: bad values named by path", test_resources_refused },
	{ NULL, NULL },
};
