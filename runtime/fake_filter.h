/* The seccomp program the faking supervisor sends to the container: the faking policy's
 * interception (with files) for the native arch and ENOSYS for those calls on the other arches
 * the kernel runs.  libseccomp takes ~1 ms of CPU to build it, the 32-bit arches' rules above
 * all, on the path of every `guise run`; so it is built once, when guise is built:
 * tools/fake_filter_gen.c writes it into build/<variant>/gen/fake_filter.c, linked in like any
 * other source.  tests/unit/test_fake_filter.c checks that it is what libseccomp builds now. */
#ifndef GUISE_RUNTIME_FAKE_FILTER_H
#define GUISE_RUNTIME_FAKE_FILTER_H

#include <linux/filter.h>
#include <stddef.h>

#include "fakefs/policy.h"

/* The calls the program intercepts: the policy the supervisor serves. */
static inline void fake_filter_shape(struct tracer_policy *shape)
{
  fakefs_policy_filter_shape(shape, true);
}

extern const struct sock_filter fake_filter_program[];
extern const size_t fake_filter_program_size; /* in bytes */

#endif
