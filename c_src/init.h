/*
 * init.h - init: true, a minimal init inside the agent's binary: the
 * child becomes pid 1 of its new pid namespace and forks the workload
 * (init.c); the agent reads the workload's status back.
 */
#ifndef LINX_INIT_H
#define LINX_INIT_H

#include <stdbool.h>

int init_start(int status_fd);
bool init_take_status(int status_fd, int *status);

#endif /* LINX_INIT_H */
