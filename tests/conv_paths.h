/*
** conv_paths.h: the convolution paths the conv tests run each case on (ops/conv2d.h's switches):
** f64 (BLIS), and f32 on the direct kernels, on Winograd (forced for every 3x3 forward, backward-data
** and weight gradient, whatever the size) and on BLIS. Without x86-64 every f32 path is BLIS.
*/
#ifndef TG_TEST_CONV_PATHS_H
#define TG_TEST_CONV_PATHS_H

#include <stdbool.h>

enum { PATH_F64, PATH_DIRECT, PATH_WINOGRAD, PATH_BLIS, NPATHS };

#if defined(__x86_64__)
void conv2d_set_direct(bool on);    /* false: f32 on BLIS even where AVX-512 is there */
void conv2d_set_winograd(int mode); /* 0 off, 1 where it pays, 2 for every 3x3 */
#else
static inline void conv2d_set_direct(bool on) { (void)on; }
static inline void conv2d_set_winograd(int mode) { (void)mode; }
#endif

static inline const char *path_name(int p)
{
	return p == PATH_F64 ? "f64" : p == PATH_DIRECT ? "direct" : p == PATH_WINOGRAD ? "Winograd" : "BLIS";
}

/* Selects path p (PATH_F64 uses the f32 settings of PATH_DIRECT: f64 is always BLIS). */
static inline void set_path(int p)
{
	conv2d_set_direct(p != PATH_BLIS);
	conv2d_set_winograd(p == PATH_WINOGRAD ? 2 : 0);
}

/* Back to the defaults: direct kernels, Winograd where it pays. */
static inline void reset_path(void)
{
	conv2d_set_direct(true);
	conv2d_set_winograd(1);
}

#endif
