/*
 * relay.h - the checkpoint window: READY, request commands, BEAM
 * checkpoint commands forwarded one at a time, PROCEED/ABORT, and the exec
 * outcome.
 */
#ifndef LINX_RELAY_H
#define LINX_RELAY_H

#include "request.h"
#include "session.h"

void relay_on_chan(struct session *s);
void relay_command(struct session *s, const struct linx_cmd *c);

#endif /* LINX_RELAY_H */
