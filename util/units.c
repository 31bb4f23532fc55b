#include "util/units.h"

#include <stdio.h>

void human_size(double bytes, char *out, size_t n)
{
  static const char *const unit[] = {"B", "kB", "MB", "GB", "TB"};
  int i = 0;
  while (bytes >= 1000 && i < 4) {
    bytes /= 1000;
    i++;
  }
  snprintf(out, n, i == 0 ? "%.0f %s" : "%.3g %s", bytes, unit[i]);
}
