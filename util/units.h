/* Sizes as people read them, shared by the image layer's progress and the CLI's listings. */
#ifndef GUISE_UTIL_UNITS_H
#define GUISE_UTIL_UNITS_H

#include <stddef.h>

/* bytes in decimal units with three significant digits, as docker and podman print them:
 * "512 B", "1.5 kB", "324 MB". */
void human_size(double bytes, char *out, size_t n);

#endif
