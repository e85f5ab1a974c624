/*
 * spawn.h - creating the workload: stdio plumbing, channel, (enter: join
 * namespaces), clone3.
 */
#ifndef LINX_SPAWN_H
#define LINX_SPAWN_H

#include "error.h"
#include "session.h"

void spawn_prepare(struct session *s);
int spawn_workload(struct session *s, int *code, struct linx_err *err);

#endif /* LINX_SPAWN_H */
