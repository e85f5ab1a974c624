/*
 * test_request.c - the pure decoders of request.c and command.c: requests,
 * defaults, error paths with their messages, commands, the echo re-encode
 * (echo.c), and robustness against truncated and corrupted input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ei.h>

#include "chan.h"
#include "command.h"
#include "ns.h"
#include "echo.h"
#include "request.h"
#include "test.h"

static void bin(ei_x_buff *x, const char *s)
{
	ei_x_encode_binary(x, s, strlen(s));
}

/* {spawn, #{argv => [<<"/bin/true">>]}} */
static void minimal(ei_x_buff *x)
{
	ei_x_new_with_version(x);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "spawn");
	ei_x_encode_map_header(x, 1);
	ei_x_encode_atom(x, "argv");
	ei_x_encode_list_header(x, 1);
	bin(x, "/bin/true");
	ei_x_encode_empty_list(x);
}

/* Every key, an unknown key with a nested value, bignum masks */
static void full(ei_x_buff *x, bool echo)
{
	static const uint8_t bpf[8] = { 0x06, 0, 0, 0, 0, 0, 0xff, 0x7f };

	ei_x_new_with_version(x);
	if (echo) {
		ei_x_encode_tuple_header(x, 2);
		ei_x_encode_atom(x, "echo");
	}
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "enter");
	ei_x_encode_map_header(x, 20);

	ei_x_encode_atom(x, "unknown");
	ei_x_encode_map_header(x, 1);
	ei_x_encode_atom(x, "a");
	ei_x_encode_string(x, "\001\002\003");

	ei_x_encode_atom(x, "argv");
	ei_x_encode_list_header(x, 2);
	bin(x, "/bin/sh");
	bin(x, "-c");
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "env");
	ei_x_encode_list_header(x, 1);
	bin(x, "A=1");
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "cwd");
	bin(x, "/tmp");

	ei_x_encode_atom(x, "namespaces");
	ei_x_encode_list_header(x, 2);
	ei_x_encode_atom(x, "net");
	ei_x_encode_atom(x, "mount");
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "target");
	ei_x_encode_long(x, 42);

	ei_x_encode_atom(x, "stdio");
	ei_x_encode_list_header(x, 2);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "stdin");
	ei_x_encode_atom(x, "pipe");
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "stderr");
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "connect_unix");
	bin(x, "/run/s");
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "no_new_privs");
	ei_x_encode_boolean(x, 1);

	ei_x_encode_atom(x, "close_handshake");
	ei_x_encode_boolean(x, 1);

	ei_x_encode_atom(x, "on_exit");
	ei_x_encode_atom(x, "detach");

	ei_x_encode_atom(x, "checkpoint");
	ei_x_encode_boolean(x, 0);

	ei_x_encode_atom(x, "commands");
	ei_x_encode_list_header(x, 4);
	ei_x_encode_atom(x, "caps_query");
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "cap_drop_bounding");
	ei_x_encode_ulonglong(x, 0xffffffffffffffffULL);
	ei_x_encode_tuple_header(x, 4);
	ei_x_encode_atom(x, "cap_set_thread");
	ei_x_encode_long(x, 1);
	ei_x_encode_ulonglong(x, 1ULL << 40);
	ei_x_encode_ulonglong(x, 1ULL << 63);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "seccomp_install");
	ei_x_encode_binary(x, bpf, sizeof(bpf));
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "winsize");
	ei_x_encode_tuple_header(x, 4);
	ei_x_encode_long(x, 24);
	ei_x_encode_long(x, 80);
	ei_x_encode_long(x, 0);
	ei_x_encode_long(x, 65535);

	ei_x_encode_atom(x, "stdio_window");
	ei_x_encode_long(x, 65536);

	/* two lines, the largest u32s */
	ei_x_encode_atom(x, "uid_map");
	ei_x_encode_list_header(x, 2);
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_long(x, 0);
	ei_x_encode_long(x, 1000);
	ei_x_encode_long(x, 1);
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_long(x, 1);
	ei_x_encode_ulonglong(x, 4294967295ULL);
	ei_x_encode_ulonglong(x, 4294967295ULL);
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "gid_map");
	ei_x_encode_list_header(x, 1);
	ei_x_encode_tuple_header(x, 3);
	ei_x_encode_long(x, 0);
	ei_x_encode_long(x, 100000);
	ei_x_encode_long(x, 65536);
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "setgroups");
	ei_x_encode_atom(x, "deny");

	ei_x_encode_atom(x, "arg0");
	bin(x, "-sh");

	ei_x_encode_atom(x, "pty_modes");
	ei_x_encode_list_header(x, 2);
	ei_x_encode_atom(x, "raw");
	ei_x_encode_atom(x, "noecho");
	ei_x_encode_empty_list(x);

	ei_x_encode_atom(x, "no_new_privs_typo");
	ei_x_encode_tuple_header(x, 0);
}

static void test_minimal_defaults(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;
	int fd;

	minimal(&x);
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(r.kind == LINX_SPAWN && !r.echo);
	CHECK(r.argc == 1 && !strcmp(r.argv[0], "/bin/true") && !r.argv[1]);
	CHECK(!r.env && !r.cwd && !r.pty && !r.has_winsize);
	CHECK(r.namespaces == 0 && r.target == 0);
	CHECK(r.checkpoint && r.on_exit == ON_EXIT_KILL && !r.no_new_privs);
	CHECK(!r.close_handshake);	/* default: exit after a quiet spell */
	for (fd = 0; fd < 3; fd++)
		CHECK(r.stdio[fd].mode == STDIO_INHERIT);
	CHECK(r.ncommands == 0);
	CHECK(r.stdio_window == 0);	/* no window: output unthrottled */
	/* no maps: nothing for the agent to write, no reason to wait */
	CHECK(!r.idmaps.uid && !r.idmaps.gid &&
	      r.idmaps.setgroups == SETGROUPS_UNSET);
	CHECK(!idmap_needed(&r.idmaps));
	request_free(&r);
	ei_x_free(&x);
}

static void test_full_request(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	full(&x, false);
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(r.kind == LINX_ENTER && r.target == 42);
	CHECK(r.argc == 2 && !strcmp(r.argv[1], "-c"));
	CHECK(r.envc == 1 && !strcmp(r.env[0], "A=1") && !r.env[1]);
	CHECK(r.cwd && !strcmp(r.cwd, "/tmp"));
	CHECK(r.has_namespaces &&
	      r.namespaces == ((1u << NS_NET) | (1u << NS_MOUNT)));
	CHECK(r.stdio[0].mode == STDIO_PIPE);
	CHECK(r.stdio[1].mode == STDIO_INHERIT);
	CHECK(r.stdio[2].mode == STDIO_CONNECT_UNIX &&
	      !strcmp(r.stdio[2].path, "/run/s"));
	CHECK(r.no_new_privs && r.on_exit == ON_EXIT_DETACH && !r.checkpoint);
	CHECK(r.close_handshake);
	CHECK(r.ncommands == 4);
	if (r.ncommands == 4) {
		CHECK(r.commands[0].kind == CMD_CAPS_QUERY);
		CHECK(r.commands[1].kind == CMD_CAP_DROP_BOUNDING &&
		      r.commands[1].mask[0] == 0xffffffffffffffffULL);
		CHECK(r.commands[2].kind == CMD_CAP_SET_THREAD &&
		      r.commands[2].mask[0] == 1 &&
		      r.commands[2].mask[1] == 1ULL << 40 &&
		      r.commands[2].mask[2] == 1ULL << 63);
		CHECK(r.commands[3].kind == CMD_SECCOMP_INSTALL &&
		      r.commands[3].len == 8);
	}
	CHECK(r.has_winsize && r.winsize.rows == 24 &&
	      r.winsize.ypix == 65535);
	CHECK(r.stdio_window == 65536);
	CHECK(r.idmaps.nuid == 2 && r.idmaps.uid &&
	      r.idmaps.uid[0].inside == 0 && r.idmaps.uid[0].outside == 1000 &&
	      r.idmaps.uid[0].count == 1 && r.idmaps.uid[1].inside == 1 &&
	      r.idmaps.uid[1].outside == 4294967295U &&
	      r.idmaps.uid[1].count == 4294967295U);
	CHECK(r.idmaps.ngid == 1 && r.idmaps.gid &&
	      r.idmaps.gid[0].outside == 100000 &&
	      r.idmaps.gid[0].count == 65536);
	CHECK(r.idmaps.setgroups == SETGROUPS_DENY);
	CHECK(idmap_needed(&r.idmaps));
	CHECK(r.arg0 && !strcmp(r.arg0, "-sh") && !strcmp(r.argv[0], "/bin/sh"));
	CHECK(r.pty_modes == (PTY_MODE_RAW | PTY_MODE_NOECHO));
	request_free(&r);
	ei_x_free(&x);
}

/* decode @x, expect failure with @stage and message @msg */
static void expect_fail(ei_x_buff *x, int stage, const char *msg)
{
	struct linx_request r;
	struct linx_err e;

	memset(&e, 0, sizeof(e));
	CHECK(request_decode(x->buff, x->index, &r, &e) == -1);
	CHECK(e.stage == stage);
	CHECK_STR(e.msg, msg);
	request_free(&r);
	ei_x_free(x);
}

/* {:spawn, %{argv: ["a"], <key>: ...}}: the caller encodes the value */
static void argv_and_key(ei_x_buff *x, const char *key)
{
	ei_x_new_with_version(x);
	ei_x_encode_tuple_header(x, 2);
	ei_x_encode_atom(x, "spawn");
	ei_x_encode_map_header(x, 2);
	ei_x_encode_atom(x, "argv");
	ei_x_encode_list_header(x, 1);
	bin(x, "a");
	ei_x_encode_empty_list(x);
	ei_x_encode_atom(x, key);
}

/* uid_map / gid_map / setgroups: each wrong shape named by its path */
static void test_malformed_id_maps(void)
{
	ei_x_buff x;
	int i;

	argv_and_key(&x, "uid_map");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.uid_map: expected 1..340 entries, got 0");

	argv_and_key(&x, "gid_map");
	ei_x_encode_list_header(&x, 341);
	for (i = 0; i < 341; i++) {
		ei_x_encode_tuple_header(&x, 3);
		ei_x_encode_long(&x, i);
		ei_x_encode_long(&x, i);
		ei_x_encode_long(&x, 1);
	}
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.gid_map: expected 1..340 entries, got 341");

	argv_and_key(&x, "uid_map");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_long(&x, 0);
	ei_x_encode_long(&x, 0);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.uid_map[0]: expected {inside, outside, count}");

	argv_and_key(&x, "uid_map");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 0);
	ei_x_encode_long(&x, 0);
	ei_x_encode_long(&x, 0);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.uid_map[0].count: 0 out of range 1..4294967295");

	argv_and_key(&x, "gid_map");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, 0);
	ei_x_encode_ulonglong(&x, 4294967296ULL);
	ei_x_encode_long(&x, 1);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.gid_map[0].outside: 4294967296 out of range "
		    "0..4294967295");

	argv_and_key(&x, "uid_map");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_long(&x, -1);
	ei_x_encode_long(&x, 0);
	ei_x_encode_long(&x, 1);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.uid_map[0].inside: expected an unsigned 64-bit integer");

	argv_and_key(&x, "setgroups");
	ei_x_encode_atom(&x, "auto");
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.setgroups: expected :allow or :deny, got :auto");
}

static void test_malformed_paths(void)
{
	ei_x_buff x;

	/* pty_modes: an unknown mode is named */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "pty_modes");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_atom(&x, "cooked");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.pty_modes[0]: expected :noecho or :raw, got :cooked");

	/* arg0 with a NUL byte */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "arg0");
	ei_x_encode_binary(&x, "a\0b", 3);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.arg0: contains a NUL byte");

	/* stdio_window 0: a window that never opens */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "stdio_window");
	ei_x_encode_long(&x, 0);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.stdio_window: 0 out of range "
		    "1024..1099511627776");

	/* stdio_window not an integer */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "stdio_window");
	ei_x_encode_atom(&x, "infinity");
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.stdio_window: expected an integer, got an atom");

	/* argv[2] an integer */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 1);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 3);
	bin(&x, "a");
	bin(&x, "b");
	ei_x_encode_long(&x, 3);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.argv[2]: expected a binary, got an integer");

	/* argv a charlist: STRING_EXT read as a list of integers */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 1);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_string(&x, "ls");
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.argv[0]: expected a binary, got an integer");

	/* a NUL inside an argument */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 1);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_binary(&x, "a\0b", 3);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.argv[0]: contains a NUL byte");

	/* unknown namespace */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "namespaces");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_atom(&x, "mnt");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.namespaces[0]: unknown namespace :mnt");

	/* enter without target */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "enter");
	ei_x_encode_map_header(&x, 1);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.target: required for :enter");

	/* trailing bytes after the term */
	minimal(&x);
	ei_x_encode_atom(&x, "extra");
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "request: 7 trailing bytes after the term");

	/* a :signal is not a checkpoint command */
	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 2);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "a");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "commands");
	ei_x_encode_list_header(&x, 1);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "signal");
	ei_x_encode_long(&x, 9);
	ei_x_encode_empty_list(&x);
	expect_fail(&x, STAGE_MALFORMED_REQUEST,
		    "opts.commands[0]: :signal is not a checkpoint command");
}

/* Decode one command term; returns decode result */
static int decode_one(ei_x_buff *x, struct linx_cmd *c, struct linx_err *e)
{
	int rc = cmd_decode(x->buff, x->index, c, e);

	ei_x_free(x);
	return rc;
}

static void test_commands(void)
{
	struct linx_cmd c;
	struct linx_err e;
	ei_x_buff x;

	ei_x_new_with_version(&x);
	ei_x_encode_atom(&x, "proceed");
	CHECK(decode_one(&x, &c, &e) == 0 && c.kind == CMD_PROCEED);
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "signal");
	ei_x_encode_long(&x, 64);
	CHECK(decode_one(&x, &c, &e) == 0 && c.kind == CMD_SIGNAL &&
	      c.signal == 64);
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "signal");
	ei_x_encode_long(&x, 0);
	CHECK(decode_one(&x, &c, &e) == -1);
	CHECK_STR(e.msg, "command.signal: 0 out of range 1..64");
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "stdin");
	ei_x_encode_binary(&x, "abc", 3);
	CHECK(decode_one(&x, &c, &e) == 0 && c.kind == CMD_STDIN &&
	      c.len == 3 && !memcmp(c.data, "abc", 3));
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "cap_set_ambient");
	ei_x_encode_long(&x, -1);
	CHECK(decode_one(&x, &c, &e) == -1 &&
	      e.stage == STAGE_MALFORMED_COMMAND);
	CHECK_STR(e.msg, "command.cap_set_ambient[0]: expected an unsigned "
			 "64-bit integer");
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "pty_winsize");
	ei_x_encode_tuple_header(&x, 4);
	ei_x_encode_long(&x, 1);
	ei_x_encode_long(&x, 2);
	ei_x_encode_long(&x, 3);
	ei_x_encode_long(&x, 65536);
	CHECK(decode_one(&x, &c, &e) == -1);
	CHECK_STR(e.msg, "command.pty_winsize.3: 65536 out of range 0..65535");
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 3);
	ei_x_encode_atom(&x, "proceed");
	ei_x_encode_long(&x, 1);
	ei_x_encode_long(&x, 2);
	CHECK(decode_one(&x, &c, &e) == -1);
	CHECK_STR(e.msg, "command: unknown command :proceed with 2 "
			 "argument(s)");
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "output_ack");
	ei_x_encode_long(&x, 65536);
	CHECK(decode_one(&x, &c, &e) == 0 && c.kind == CMD_OUTPUT_ACK &&
	      c.bytes == 65536 && !cmd_is_checkpoint(c.kind));
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "output_ack");
	ei_x_encode_long(&x, -1);
	CHECK(decode_one(&x, &c, &e) == -1 &&
	      e.stage == STAGE_MALFORMED_COMMAND);
	CHECK_STR(e.msg, "command.output_ack: expected an unsigned 64-bit "
			 "integer");
	cmd_free(&c);

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "output_ack");
	ei_x_encode_ulonglong(&x, (1ULL << 40) + 1);
	CHECK(decode_one(&x, &c, &e) == -1);
	CHECK_STR(e.msg, "command.output_ack: 1099511627777 out of range "
			 "0..1099511627776");
	cmd_free(&c);

	/* empty body, bare garbage */
	CHECK(cmd_decode("", 0, &c, &e) == -1);
	cmd_free(&c);
	CHECK(cmd_decode("\x83\x6d\xff\xff\xff\xff", 6, &c, &e) == -1);
	cmd_free(&c);
}

/* Find key @k in the {:decoded, map} answer; leave @idx at its value */
static int find_key(const char *buf, int map_idx, const char *k, int *idx)
{
	char atom[MAXATOMLEN_UTF8];
	int arity, i;

	*idx = map_idx;
	if (ei_decode_map_header(buf, idx, &arity))
		return -1;
	for (i = 0; i < arity; i++) {
		if (ei_decode_atom(buf, idx, atom))
			return -1;
		if (!strcmp(atom, k))
			return 0;
		ei_skip_term(buf, idx);
	}
	return -1;
}

static void test_echo_shape(void)
{
	char atom[MAXATOMLEN_UTF8];
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x, out;
	int idx = 0, arity, map, v, n;
	long len;
	unsigned long long u;

	full(&x, true);
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0 && r.echo);
	ei_x_new(&out);
	CHECK(request_echo_encode(&r, &out) == 0);

	CHECK(!ei_decode_version(out.buff, &idx, &v));
	CHECK(!ei_decode_tuple_header(out.buff, &idx, &arity) && arity == 2);
	CHECK(!ei_decode_atom(out.buff, &idx, atom) &&
	      !strcmp(atom, "decoded"));
	map = idx;
	v = map;
	CHECK(!ei_decode_map_header(out.buff, &v, &arity) && arity == 30);
	/* usage: false unless asked for */
	CHECK(!find_key(out.buff, map, "usage", &idx) &&
	      !ei_decode_boolean(out.buff, &idx, &n) && n == 0);
	CHECK(!find_key(out.buff, map, "arg0", &idx) &&
	      !ei_decode_binary(out.buff, &idx, atom, &len) && len == 3 &&
	      !memcmp(atom, "-sh", 3));
	/* pty_modes in a fixed order whatever the request's order */
	CHECK(!find_key(out.buff, map, "pty_modes", &idx) &&
	      !ei_decode_list_header(out.buff, &idx, &n) && n == 1 &&
	      !ei_decode_atom(out.buff, &idx, atom) &&
	      !strcmp(atom, "noecho") &&
	      !ei_decode_list_header(out.buff, &idx, &n) && n == 1 &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "raw"));
	CHECK(!find_key(out.buff, map, "uid_map", &idx) &&
	      !ei_decode_list_header(out.buff, &idx, &n) && n == 2 &&
	      !ei_decode_tuple_header(out.buff, &idx, &arity) && arity == 3);
	ei_skip_term(out.buff, &idx);
	CHECK(!ei_decode_ulonglong(out.buff, &idx, &u) && u == 1000);
	CHECK(!find_key(out.buff, map, "gid_map", &idx) &&
	      !ei_decode_list_header(out.buff, &idx, &n) && n == 1 &&
	      !ei_decode_tuple_header(out.buff, &idx, &arity) && arity == 3);
	ei_skip_term(out.buff, &idx);
	ei_skip_term(out.buff, &idx);
	CHECK(!ei_decode_ulonglong(out.buff, &idx, &u) && u == 65536);
	CHECK(!find_key(out.buff, map, "setgroups", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "deny"));
	CHECK(!find_key(out.buff, map, "close_handshake", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "true"));
	CHECK(!find_key(out.buff, map, "stdio_window", &idx) &&
	      !ei_decode_ulonglong(out.buff, &idx, &u) && u == 65536);

	CHECK(!find_key(out.buff, map, "kind", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "enter"));
	CHECK(!find_key(out.buff, map, "on_exit", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) &&
	      !strcmp(atom, "detach"));
	/* namespaces in wire order whatever the request's order */
	CHECK(!find_key(out.buff, map, "namespaces", &idx) &&
	      !ei_decode_list_header(out.buff, &idx, &n) && n == 2 &&
	      !ei_decode_atom(out.buff, &idx, atom) &&
	      !strcmp(atom, "mount") &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "net"));
	/* the u64 mask survives as a bignum */
	CHECK(!find_key(out.buff, map, "commands", &idx) &&
	      !ei_decode_list_header(out.buff, &idx, &n) && n == 4);
	ei_skip_term(out.buff, &idx);
	CHECK(!ei_decode_tuple_header(out.buff, &idx, &arity) && arity == 2 &&
	      !ei_decode_atom(out.buff, &idx, atom) &&
	      !ei_decode_ulonglong(out.buff, &idx, &u) &&
	      u == 0xffffffffffffffffULL);

	request_free(&r);
	ei_x_free(&x);
	ei_x_free(&out);

	/* defaults of a minimal request: enter gets every namespace */
	minimal(&x);
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	ei_x_new(&out);
	CHECK(request_echo_encode(&r, &out) == 0);
	idx = 0;
	ei_decode_version(out.buff, &idx, &v);
	ei_decode_tuple_header(out.buff, &idx, &arity);
	ei_decode_atom(out.buff, &idx, atom);
	map = idx;
	CHECK(!find_key(out.buff, map, "env", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) &&
	      !strcmp(atom, "inherit"));
	CHECK(!find_key(out.buff, map, "checkpoint", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "true"));
	CHECK(!find_key(out.buff, map, "stdio_window", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "nil"));
	CHECK(!find_key(out.buff, map, "uid_map", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "nil"));
	CHECK(!find_key(out.buff, map, "setgroups", &idx) &&
	      !ei_decode_atom(out.buff, &idx, atom) && !strcmp(atom, "nil"));
	request_free(&r);
	ei_x_free(&x);
	ei_x_free(&out);
}

/* Every prefix and many corruptions: fail cleanly, free everything */
static void test_truncated_and_corrupted(void)
{
	struct linx_request r;
	struct linx_err e;
	uint32_t seed = 12345;
	ei_x_buff x;
	int len, i, ok = 0;
	char *copy;

	full(&x, false);
	for (len = 0; len < x.index; len++) {
		CHECK(request_decode(x.buff, len, &r, &e) == -1);
		CHECK(e.stage == STAGE_MALFORMED_REQUEST);
		request_free(&r);
	}
	copy = malloc(x.index);
	for (i = 0; i < 20000; i++) {
		memcpy(copy, x.buff, x.index);
		seed = seed * 1103515245 + 12345;
		copy[(seed >> 8) % x.index] ^= (char)(1 + (seed >> 24) % 255);
		if (!request_decode(copy, x.index, &r, &e))
			ok++;
		request_free(&r);
	}
	CHECK(ok < 20000);
	free(copy);
	ei_x_free(&x);
}

/* A map repeating a key (ETF allows it, the BEAM never sends it) */
static void test_duplicate_keys(void)
{
	struct linx_request r;
	struct linx_err e;
	ei_x_buff x;

	ei_x_new_with_version(&x);
	ei_x_encode_tuple_header(&x, 2);
	ei_x_encode_atom(&x, "spawn");
	ei_x_encode_map_header(&x, 5);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "/first");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "cwd");
	bin(&x, "/a");
	ei_x_encode_atom(&x, "cwd");
	bin(&x, "/b");
	ei_x_encode_atom(&x, "env");
	ei_x_encode_empty_list(&x);
	ei_x_encode_atom(&x, "argv");
	ei_x_encode_list_header(&x, 1);
	bin(&x, "/second");
	ei_x_encode_empty_list(&x);
	CHECK(request_decode(x.buff, x.index, &r, &e) == 0);
	CHECK(r.argc == 1 && !strcmp(r.argv[0], "/second"));
	CHECK(r.cwd && !strcmp(r.cwd, "/b"));
	CHECK(r.env && r.envc == 0);
	request_free(&r);	/* ASan/valgrind: the first values are freed */
	ei_x_free(&x);
}

/*
 * The command table drives the agent (relay.c, supervise.c) and the child
 * (child_checkpoint): a row forwarded to the child has a record type the
 * channel accepts and an apply function there (PROCEED and ABORT are the
 * child's loop itself); the record type finds the row again; only
 * checkpoint commands are forwarded; filters travel as payload.
 */
static void test_command_table(void)
{
	const struct cmd_row *row, *back;
	int k, forwarded = 0;

	for (k = CMD_PROCEED; k <= CMD_OUTPUT_ACK; k++) {
		row = cmd_row_of(k);
		CHECK(row && (int)row->kind == k && row->encode);
		if (!row)
			continue;
		CHECK(cmd_is_checkpoint(k) == (row->phase == CMD_CHECKPOINT));
		CHECK(!row->payload || row->chan);
		if (!row->chan) {
			CHECK(!row->apply && row->phase != CMD_WINDOW);
			continue;
		}
		forwarded++;
		CHECK(row->chan >= CHAN_PROCEED && row->chan < CHAN_TYPE_END);
		if (row->phase == CMD_WINDOW) {
			CHECK(!row->apply && cmd_row_by_chan(row->chan) == NULL);
			continue;
		}
		CHECK(row->phase == CMD_CHECKPOINT && row->apply);
		back = cmd_row_by_chan(row->chan);
		CHECK(back == row);
	}
	/* proceed, abort, caps_query, set_ids, 3 cap_*, 2 seccomp */
	CHECK(forwarded == 9);
	CHECK(cmd_row_by_chan(CHAN_OK) == NULL);
	CHECK(cmd_row_by_chan(CHAN_TYPE_END) == NULL);
	CHECK(cmd_row_of(CMD_SECCOMP_INSTALL)->payload &&
	      cmd_row_of(CMD_SECCOMP_NOTIFY_INSTALL)->payload &&
	      !cmd_row_of(CMD_SET_IDS)->payload);
	CHECK(!strcmp(cmd_name(CMD_OUTPUT_ACK), "output_ack"));
}

TESTS(request_tests) = {
	{ "request: a repeated key replaces the first, nothing leaks",
	  test_duplicate_keys },
	{ "request: minimal spawn gets every default", test_minimal_defaults },
	{ "request: every key, bignum masks, unknown keys skipped",
	  test_full_request },
	{ "request: malformed input names the path", test_malformed_paths },
	{ "request: uid_map/gid_map/setgroups shapes and ranges",
	  test_malformed_id_maps },
	{ "commands: decode table, ranges, messages", test_commands },
	{ "commands: table rows drive agent and child consistently",
	  test_command_table },
	{ "echo: {:decoded, map} shape and defaults", test_echo_shape },
	{ "request: truncated and corrupted bodies fail cleanly",
	  test_truncated_and_corrupted },
	TEST_END
};
