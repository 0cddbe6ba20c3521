/*
** gradcheck_physics.c: gradient-check cases of the physics ops (FFTs, diffusion, complex helpers).
*/
#include "gradcheck_cases.h"

const gc_case gc_physics_cases[] = {
	{NULL, NULL, {0, 0, 0, 0}},
};
