/*
 * util.h - small helpers shared by every module of the agent: cleanup
 * attributes (so early returns leak nothing) and explicit ownership
 * hand-off (steal_fd / steal_ptr).
 */
#ifndef LINX_UTIL_H
#define LINX_UTIL_H

#include <stdlib.h>
#include <unistd.h>
#include <errno.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/**
 * cleanup_closep() - close *fdp if it holds a descriptor (>= 0)
 * @fdp:	pointer to a descriptor variable
 *
 * Used through the cleanup_close attribute. errno is preserved so a
 * function can fail, return, and still report the errno of its failure.
 */
static inline void cleanup_closep(int *fdp)
{
	int saved = errno;

	if (*fdp >= 0)
		close(*fdp);
	errno = saved;
}

/**
 * cleanup_freep() - free *(void **)p
 * @p:	pointer to a pointer variable
 */
static inline void cleanup_freep(void *p)
{
	void **pp = p;
	int saved = errno;

	free(*pp);
	errno = saved;
}

#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_free __attribute__((cleanup(cleanup_freep)))

/**
 * steal_fd() - take ownership of a descriptor out of a cleanup variable
 * @fdp:	the variable; set to -1
 *
 * Return: the descriptor it held
 */
static inline int steal_fd(int *fdp)
{
	int fd = *fdp;

	*fdp = -1;
	return fd;
}

/**
 * steal_ptr() - take ownership of a pointer out of a cleanup variable
 * @pp:	the variable (void **); set to NULL
 *
 * Return: the pointer it held
 */
static inline void *steal_ptr(void *pp)
{
	void **p = pp;
	void *v = *p;

	*p = NULL;
	return v;
}

#endif /* LINX_UTIL_H */
