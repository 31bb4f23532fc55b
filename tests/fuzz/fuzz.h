/* Shared by the libFuzzer targets tests/fuzz/fuzz_*.c (built and run by `make fuzz` and
 * `make fuzz-smoke`, tests/fuzz/run.sh).  Each target feeds its input to one parser of outside
 * input through the library's own entry points; these helpers turn the bytes into what a
 * parser takes (a string, a file) and give a private scratch directory. */
#ifndef GUISE_TESTS_FUZZ_H
#define GUISE_TESTS_FUZZ_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/cleanup.h"
#include "util/error.h"
#include "util/fileio.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a C string (cut at its first NUL byte), malloc'd. */
static inline char *fuzz_string(const uint8_t *data, size_t size)
{
  char *s = malloc(size + 1);
  if (s == NULL) abort();
  memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

static char fuzz_scratch[4096];

static void fuzz_scratch_remove(void)
{
  rm_rf_at(AT_FDCWD, fuzz_scratch, NULL);
}

/* A directory of this process's own (under $TMPDIR), removed at exit. */
static inline const char *fuzz_dir(void)
{
  if (fuzz_scratch[0] != '\0') return fuzz_scratch;
  const char *tmp = getenv("TMPDIR");
  snprintf(fuzz_scratch, sizeof(fuzz_scratch), "%s/guise-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(fuzz_scratch) == NULL) {
    perror(fuzz_scratch);
    abort();
  }
  atexit(fuzz_scratch_remove);
  return fuzz_scratch;
}

/* fuzz_dir()/name, malloc'd. */
static inline char *fuzz_path(const char *name)
{
  char *p = NULL;
  if (asprintf(&p, "%s/%s", fuzz_dir(), name) < 0) abort();
  return p;
}

/* Write the input to path (replacing it). */
static inline void fuzz_write(const char *path, const uint8_t *data, size_t size)
{
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || (size > 0 && write_all(fd, data, size) < 0) || close(fd) < 0) {
    perror(path);
    abort();
  }
}

#endif
