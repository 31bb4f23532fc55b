#include "util/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int guise_vfail(guise_error **err, int errnum, const char *fmt, va_list ap)
{
  if (err == NULL || *err != NULL)
    return -1; /* keep the first, most precise error */
  guise_error *e = calloc(1, sizeof(*e));
  if (e == NULL)
    abort();
  char *text = NULL;
  if (vasprintf(&text, fmt, ap) < 0)
    abort();
  if (errnum != 0) {
    if (asprintf(&e->msg, "%s: %s", text, strerror(errnum)) < 0)
      abort();
    free(text);
  } else {
    e->msg = text;
  }
  e->errnum = errnum;
  *err = e;
  return -1;
}

int guise_fail(guise_error **err, int errnum, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  guise_vfail(err, errnum, fmt, ap);
  va_end(ap);
  return -1;
}

int guise_fail_errno(guise_error **err, const char *fmt, ...)
{
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  guise_vfail(err, saved, fmt, ap);
  va_end(ap);
  errno = saved;
  return -1;
}

int guise_error_prefix(guise_error **err, const char *fmt, ...)
{
  if (err == NULL || *err == NULL)
    return -1;
  char *context = NULL, *joined = NULL;
  va_list ap;
  va_start(ap, fmt);
  if (vasprintf(&context, fmt, ap) < 0)
    abort();
  va_end(ap);
  if (asprintf(&joined, "%s: %s", context, (*err)->msg) < 0)
    abort();
  free(context);
  free((*err)->msg);
  (*err)->msg = joined;
  return -1;
}

void guise_error_print(const guise_error *err)
{
  if (err != NULL)
    fprintf(stderr, "guise: %s\n", err->msg);
}

void guise_error_release(guise_error **err)
{
  if (err == NULL || *err == NULL)
    return;
  free((*err)->msg);
  free(*err);
  *err = NULL;
}
