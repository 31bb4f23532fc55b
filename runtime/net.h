#ifndef GUISE_RUNTIME_NET_H
#define GUISE_RUNTIME_NET_H

#include "util/error.h"

/* Bring the loopback interface of the current network namespace up. */
int net_loopback_up(guise_error **err);

#endif
