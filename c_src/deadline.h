/*
 * deadline.h - the workload's timeout, kept by the agent (deadline.c).
 */
#ifndef LINX_DEADLINE_H
#define LINX_DEADLINE_H

#include "session.h"

void deadline_start(struct session *s);
int deadline_poll_ms(const struct session *s, int ms);
void deadline_check(struct session *s);

#endif /* LINX_DEADLINE_H */
