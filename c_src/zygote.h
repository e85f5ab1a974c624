/*
 * zygote.h - `linx_process --zygote`: one long-lived agent that forks the
 * per-workload agents of Linx.Spawner, passes them the BEAM's frames and
 * shares its fd 4 with them, every frame tagged with a channel id
 * (docs/protocol.md, "The spawner").
 */
#ifndef LINX_ZYGOTE_H
#define LINX_ZYGOTE_H

#include "framing.h"

/* Agents forked ahead of time, unless `--zygote N` says otherwise */
#define ZYGOTE_PREFORK 2

/* What zygote_run() returns in a forked agent (the zygote never returns) */
#define ZYGOTE_AGENT 0

/* Frames between the BEAM and the zygote: <<op, id:32, payload>> */
enum zygote_op {
	ZOP_SPAWN = 1,	/* BEAM -> zygote: payload is the agent's request */
	ZOP_DATA = BYTEQ_OP_LAST, /* both ways: one frame (agent -> BEAM: its
				 * last piece, framing.c) */
	ZOP_CLOSE = 3,	/* BEAM -> zygote: the channel is closed (EOF) */
	ZOP_EXIT = 3,	/* zygote -> BEAM: <<status:32>>, after its last DATA */
	ZOP_REFUSED = 4, /* zygote -> BEAM: a frame it could not use, text */
	ZOP_MORE = BYTEQ_OP_MORE, /* agent -> BEAM: a piece, more follows */
};

int zygote_run(int prefork);

#endif /* LINX_ZYGOTE_H */
