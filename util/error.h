/* The error type passed out of every fallible function.
 *
 * A fallible function takes `guise_error **err` as its last argument and returns a negative
 * value on failure after filling *err with a message that names the step and the input,
 * e.g. "pivot_root into /x failed: Invalid argument".  The caller either handles the error
 * (guise_error_release) or adds context (guise_error_prefix) and passes it on. */
#ifndef GUISE_UTIL_ERROR_H
#define GUISE_UTIL_ERROR_H

#include <stdarg.h>

typedef struct guise_error {
  int errnum; /* errno of the failing call, 0 when the failure is not a system error */
  char *msg;  /* complete message, strerror(errnum) already appended */
} guise_error;

/* Fill *err (if err is not NULL and *err is empty) and return -1.  With errnum != 0 the
 * message gets ": strerror(errnum)" appended. */
int guise_fail(guise_error **err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Same, with the current errno. */
int guise_fail_errno(guise_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int guise_vfail(guise_error **err, int errnum, const char *fmt, va_list ap);

/* Prepend "context: " to an existing error; returns -1 so it can end a failing path. */
int guise_error_prefix(guise_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Print "guise: <msg>" on stderr. */
void guise_error_print(const guise_error *err);

/* Free the error and set *err to NULL; usable as a cleanup attribute. */
void guise_error_release(guise_error **err);

#define _cleanup_error_ __attribute__((cleanup(guise_error_release)))

#endif
