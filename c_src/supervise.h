/*
 * supervise.h - the agent's event loop (its exits: agent.h).
 */
#ifndef LINX_SUPERVISE_H
#define LINX_SUPERVISE_H

#include "session.h"

void supervise_run(struct session *s) __attribute__((noreturn));

#endif /* LINX_SUPERVISE_H */
