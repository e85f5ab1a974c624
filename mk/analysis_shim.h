/*
 * analysis_shim.h - force-included (-include) by clang-tidy in
 * `make analyze` for every c_src file except error.c. Never part of a
 * build.
 *
 * linx_fail() always returns -1, but it lives in error.c and clang's
 * analyzer works one translation unit at a time: it assumes the call may
 * return 0, follows `if (td_peek(...)) return -1;` into the "success" path
 * with out-parameters unset, and reports them as garbage values (a dozen
 * false positives in term.c). This macro tells it what the function
 * returns; the call itself stays, so its arguments are still checked.
 */
#include "error.h"

#define linx_fail(...) (linx_fail(__VA_ARGS__), -1)
