/*
 * unix_sock.h - a stream socket connected to a unix path, shared by the
 * child (stdio {:connect_unix, path}) and notify (an :addfd source).
 */
#ifndef LINX_UNIX_SOCK_H
#define LINX_UNIX_SOCK_H

int unix_connect(const char *path, int timeout_s);

#endif /* LINX_UNIX_SOCK_H */
