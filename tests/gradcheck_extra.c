/*
** gradcheck_extra.c: the lists of gradient-check cases outside the core, walked with the core's.
*/
#include "gradcheck_cases.h"

extern const gc_case gc_physics_cases[], gc_nn_cases[];
const gc_case *const gc_extra_lists[] = {gc_physics_cases, gc_nn_cases, NULL};
