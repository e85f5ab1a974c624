/*
 * fuzz_chan.c - libFuzzer harness for chan_decode(), the length-checked
 * decoder of the child <-> agent records (c_src/chan.h): the agent decodes
 * child -> agent records with it (relay.c) and the child decodes
 * agent -> child records with it (child.c).
 *
 * Properties: an accepted record has a known type, a payload exactly for
 * seccomp_install (1..4096 whole instructions) and CHAN_ERR (its message,
 * shorter than LINX_ERR_MSG_MAX, possibly none), an in-range stage for
 * CHAN_ERR; chan_encode() lays it out byte for byte as received; and it
 * survives chan_send()/chan_recv() over a real SOCK_SEQPACKET socketpair
 * (one packet, same bytes). A rejected record sets errno EPROTO.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "chan.h"
#include "fuzz_common.h"

static int pair[2] = { -1, -1 };

static void roundtrip_socket(const struct chan_rec *rec,
			     const uint8_t *payload, const uint8_t *data,
			     size_t size)
{
	static union {
		struct chan_rec align;
		uint8_t buf[CHAN_MAX_RECORD];
	} in;
	int passed = -2;
	ssize_t n;

	if (pair[0] < 0)
		FUZZ_ASSERT(!socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC,
					0, pair));
	FUZZ_ASSERT(!chan_send(pair[0], rec, payload, rec->len));
	n = chan_recv(pair[1], in.buf, sizeof(in.buf), MSG_DONTWAIT, &passed);
	FUZZ_ASSERT(n == (ssize_t)size);
	FUZZ_ASSERT(passed == -1);
	FUZZ_ASSERT(!memcmp(in.buf, data, size));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[CHAN_MAX_RECORD];
	const uint8_t *payload = (const uint8_t *)1;
	struct chan_rec rec;
	ssize_t n;

	errno = 0;
	if (chan_decode(data, size, &rec, &payload)) {
		FUZZ_ASSERT(errno == EPROTO);
		FUZZ_ASSERT(payload == NULL);
		return 0;
	}

	FUZZ_ASSERT(size >= sizeof(rec) && size <= CHAN_MAX_RECORD);
	FUZZ_ASSERT(rec.len == size - sizeof(rec));
	FUZZ_ASSERT(rec.reserved == 0);
	if (rec.type == CHAN_SECCOMP_INSTALL ||
	    rec.type == CHAN_SECCOMP_NOTIFY_INSTALL) {
		FUZZ_ASSERT(payload == data + sizeof(rec));
		FUZZ_ASSERT(rec.len >= 8 && rec.len % 8 == 0 &&
			    rec.len <= CHAN_MAX_PAYLOAD);
	} else if (rec.type == CHAN_ERR) {
		FUZZ_ASSERT(rec.len < LINX_ERR_MSG_MAX);
		FUZZ_ASSERT(rec.len ? payload == data + sizeof(rec) :
				      payload == NULL);
	} else {
		FUZZ_ASSERT(payload == NULL && rec.len == 0);
		FUZZ_ASSERT((rec.type >= CHAN_READY && rec.type <= CHAN_LISTENER_AT) ||
			    (rec.type >= CHAN_PROCEED &&
			     rec.type < CHAN_TYPE_END));
	}
	if (rec.type == CHAN_ERR)
		FUZZ_ASSERT(rec.stage > STAGE_NONE && rec.stage < STAGE_COUNT &&
			    rec.err >= 0);

	n = chan_encode(&rec, payload, rec.len, out, sizeof(out));
	FUZZ_ASSERT(n == (ssize_t)size);
	FUZZ_ASSERT(!memcmp(out, data, size));
	roundtrip_socket(&rec, payload, data, size);
	return 0;
}
