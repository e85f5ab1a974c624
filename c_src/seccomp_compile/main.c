/* main.c - linx_seccomp: compile seccomp policies to BPF with libseccomp.
 *
 * DOC: Theory of operation
 *
 * Linx.Seccomp.Compiler opens this program as a port
 * ({:packet, 4} on fds 3/4, like the agent; docs/protocol.md "Transport")
 * and keeps it for the life of the node. Each frame is one request, each
 * gets exactly one reply frame; the program never exits on bad input, only
 * at EOF on fd 3. The request grammar is written once, in docs/seccomp.md:
 *
 *   {:compile, policy}  -> {:ok, bpf, unknown_names, absent_names}
 *                        | {:error, {:unknown_syscalls, unknown_names, absent_names}}
 *                        | {:error, what}
 *   {:pfc, policy}      -> {:ok, pfc_text, unknown_names, absent_names} | {:error, ...}
 *   {:resolve, [name]}  -> {:ok, [nr | :unknown]}      (native arch)
 *   :version            -> {:ok, {major, minor, micro}, api_level, native_arch}
 *   anything else       -> {:error, what}
 *
 * The BPF is built here, outside any workload: the agent's child only
 * installs bytes (seccomp(SECCOMP_SET_MODE_FILTER)), it parses nothing.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ei.h>
#include <seccomp.h>

#include "build.h"
#include "framing.h"
#include "policy.h"
#include "terms.h"

typedef int (*handler_fn)(const char *buf, int *idx, ei_x_buff *reply, struct sc_error *err);

static int encode_names(ei_x_buff *x, const struct sc_names *l)
{
	unsigned int i;

	if (l->n && ei_x_encode_list_header(x, l->n) < 0)
		return -1;
	for (i = 0; i < l->n; i++)
		if (ei_x_encode_binary(x, l->v[i], (long)strlen(l->v[i])) < 0)
			return -1;
	return ei_x_encode_empty_list(x);
}

/* compile_or_pfc() - shared body of {:compile, policy} and {:pfc, policy} */
static int compile_or_pfc(const char *buf, int *idx, ei_x_buff *reply, int pfc,
			  struct sc_error *err)
{
	struct sc_report rep = { 0 };
	struct sc_policy p;
	scmp_filter_ctx ctx = NULL;
	char *out = NULL;
	size_t len = 0;
	int rc = -1;

	if (policy_decode(buf, idx, &p, err) < 0)
		goto done;
	if (build_filter(&p, &ctx, &rep, err) < 0)
		goto done;
	if ((rep.unknown.n || rep.absent.n) && !p.ignore_unknown) {
		/* Never drop a name silently: the caller sees every one. */
		if (ei_x_encode_tuple_header(reply, 2) < 0 ||
		    ei_x_encode_atom(reply, "error") < 0 ||
		    ei_x_encode_tuple_header(reply, 3) < 0 ||
		    ei_x_encode_atom(reply, "unknown_syscalls") < 0 ||
		    encode_names(reply, &rep.unknown) < 0 || encode_names(reply, &rep.absent) < 0) {
			sc_fail(err, "encoding the reply");
			goto done;
		}
		rc = 0;
		goto done;
	}
	if (export_filter(ctx, &rep, pfc, &out, &len, err) < 0)
		goto done;
	if (ei_x_encode_tuple_header(reply, 4) < 0 || ei_x_encode_atom(reply, "ok") < 0 ||
	    ei_x_encode_binary(reply, out, (long)len) < 0 ||
	    encode_names(reply, &rep.unknown) < 0 || encode_names(reply, &rep.absent) < 0) {
		sc_fail(err, "encoding the reply");
		goto done;
	}
	rc = 0;
done:
	free(out);
	if (ctx)
		seccomp_release(ctx);
	report_free(&rep);
	policy_free(&p);
	return rc;
}

static int handle_compile(const char *buf, int *idx, ei_x_buff *reply, struct sc_error *err)
{
	return compile_or_pfc(buf, idx, reply, 0, err);
}

static int handle_pfc(const char *buf, int *idx, ei_x_buff *reply, struct sc_error *err)
{
	return compile_or_pfc(buf, idx, reply, 1, err);
}

static int handle_resolve(const char *buf, int *idx, ei_x_buff *reply, struct sc_error *err)
{
	int len, i;

	if (term_list(buf, idx, &len, "resolve.names", err) < 0)
		return -1;
	if (ei_x_encode_tuple_header(reply, 2) < 0 || ei_x_encode_atom(reply, "ok") < 0 ||
	    (len && ei_x_encode_list_header(reply, len) < 0))
		return sc_fail(err, "encoding the reply");
	for (i = 0; i < len; i++) {
		char what[64], *name = NULL;
		int nr, rc;

		snprintf(what, sizeof(what), "resolve.names[%d]", i);
		if (term_cstring(buf, idx, &name, what, err) < 0)
			return -1;
		nr = seccomp_syscall_resolve_name(name);
		free(name);
		rc = nr >= 0 ? ei_x_encode_long(reply, nr) : ei_x_encode_atom(reply, "unknown");
		if (rc < 0)
			return sc_fail(err, "encoding the reply");
	}
	if (len && term_list_end(buf, idx, "resolve.names", err) < 0)
		return -1;
	if (ei_x_encode_empty_list(reply) < 0)
		return sc_fail(err, "encoding the reply");
	return 0;
}

/* native_arch_name() - libseccomp's name for the native arch (2.5 has no
 * seccomp_arch_to_name(), so ask the resolver about each candidate) */
static const char *native_arch_name(void)
{
	static const char *const names[] = {
		"x86_64", "x86", "x32", "aarch64", "arm", "mips", "mipsel", "mips64",
		"mipsel64", "mips64n32", "mipsel64n32", "ppc", "ppc64", "ppc64le",
		"s390", "s390x", "parisc", "parisc64", "riscv64",
	};
	uint32_t native = seccomp_arch_native();
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (seccomp_arch_resolve_name(names[i]) == native)
			return names[i];
	return NULL;
}

static int handle_version(ei_x_buff *reply, struct sc_error *err)
{
	const struct scmp_version *v = seccomp_version();
	const char *arch = native_arch_name();

	if (ei_x_encode_tuple_header(reply, 4) < 0 || ei_x_encode_atom(reply, "ok") < 0 ||
	    ei_x_encode_tuple_header(reply, 3) < 0 || ei_x_encode_ulong(reply, v->major) < 0 ||
	    ei_x_encode_ulong(reply, v->minor) < 0 || ei_x_encode_ulong(reply, v->micro) < 0 ||
	    ei_x_encode_ulong(reply, seccomp_api_get()) < 0 ||
	    ei_x_encode_binary(reply, arch ? arch : "unknown", arch ? (long)strlen(arch) : 7) < 0)
		return sc_fail(err, "encoding the reply");
	return 0;
}

static const struct {
	const char *tag;
	int arity;
	handler_fn fn;
} handlers[] = {
	{ "compile", 2, handle_compile },
	{ "pfc", 2, handle_pfc },
	{ "resolve", 2, handle_resolve },
};

/* dispatch() - decode one request and fill @reply; Return: 0, or -1 with @err */
static int dispatch(const char *buf, size_t len, ei_x_buff *reply, struct sc_error *err)
{
	char tag[MAXATOMLEN_UTF8];
	int idx = 0, version, arity = 0, type;
	size_t i;

	if (term_check(buf, len, err) < 0)
		return -1;
	if (ei_decode_version(buf, &idx, &version) < 0)
		return sc_fail(err, "request: not an external term (bad version byte)");
	type = term_type(buf, idx);
	if (type == ERL_ATOM_EXT || type == ERL_SMALL_ATOM_EXT || type == ERL_ATOM_UTF8_EXT ||
	    type == ERL_SMALL_ATOM_UTF8_EXT) {
		if (term_atom(buf, &idx, tag, "request", err) < 0)
			return -1;
		if (strcmp(tag, "version"))
			return sc_fail(err, "request: unknown request '%s'", tag);
		if ((size_t)idx != len)
			return sc_fail(err, "request: trailing bytes after the term");
		return handle_version(reply, err);
	}
	if (ei_decode_tuple_header(buf, &idx, &arity) < 0 || arity < 1)
		return sc_fail(err, "request: expected a tuple or an atom");
	if (term_atom(buf, &idx, tag, "request[0]", err) < 0)
		return -1;
	for (i = 0; i < sizeof(handlers) / sizeof(handlers[0]); i++) {
		if (strcmp(tag, handlers[i].tag))
			continue;
		if (arity != handlers[i].arity)
			return sc_fail(err, "request: {:%s, ...} takes %d elements, got %d", tag,
				       handlers[i].arity, arity);
		if (handlers[i].fn(buf, &idx, reply, err) < 0)
			return -1;
		if ((size_t)idx != len)
			return sc_fail(err, "request: trailing bytes after the term");
		return 0;
	}
	return sc_fail(err, "request: unknown request '%s'", tag);
}

static int send_error(const char *msg, struct sc_error *err)
{
	ei_x_buff x;
	int rc;

	if (!msg)
		msg = "out of memory while describing an error";
	if (ei_x_new_with_version(&x) < 0)
		return sc_fail(err, "ei_x_new");
	if (ei_x_encode_tuple_header(&x, 2) < 0 || ei_x_encode_atom(&x, "error") < 0 ||
	    ei_x_encode_binary(&x, msg, (long)strlen(msg)) < 0)
		rc = sc_fail(err, "encoding an error reply");
	else
		rc = frame_write(x.buff, (size_t)x.index, err);
	ei_x_free(&x);
	return rc;
}

int main(void)
{
	struct sc_error err = { 0 };

	/* The BEAM ignores SIGPIPE and we inherit that: a closed port shows up
	 * as EPIPE on write, which ends the loop below. */
	signal(SIGPIPE, SIG_IGN);
	ei_init();
	for (;;) {
		struct sc_error req_err = { 0 };
		char *body = NULL;
		size_t len = 0;
		ei_x_buff reply;
		int rc;

		switch (frame_read(&body, &len, &err)) {
		case FRAME_EOF:
			return 0;
		case FRAME_FAILED:
			return 1;
		case FRAME_TOO_BIG:
			sc_fail(&req_err, "request: %zu-byte frame is larger than the %u-byte cap",
				len, SC_MAX_FRAME);
			rc = send_error(req_err.msg, &err);
			sc_error_clear(&req_err);
			if (rc < 0)
				return 1;
			continue;
		case FRAME_OK:
			break;
		}
		if (ei_x_new_with_version(&reply) < 0) {
			free(body);
			return 1;
		}
		if (dispatch(body, len, &reply, &req_err) < 0)
			rc = send_error(req_err.msg, &err);
		else
			rc = frame_write(reply.buff, (size_t)reply.index, &err);
		ei_x_free(&reply);
		sc_error_clear(&req_err);
		free(body);
		if (rc < 0)
			return 1;
	}
}
