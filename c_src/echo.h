/*
 * echo.h - {:decoded, map}, the answer to {:echo, request}: the decoded
 * request encoded back, every key present (the shape: echo.c).
 */
#ifndef LINX_ECHO_H
#define LINX_ECHO_H

#include <ei.h>

#include "request.h"

int request_echo_encode(const struct linx_request *req, ei_x_buff *x);

#endif /* LINX_ECHO_H */
