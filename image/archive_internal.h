/* Shared by image/archive.c (reading tars, oci-archive, import) and image/docker_archive.c. */
#ifndef GUISE_IMAGE_ARCHIVE_INTERNAL_H
#define GUISE_IMAGE_ARCHIVE_INTERNAL_H

#include <archive.h>
#include <stdbool.h>

#include "image/archive.h"

/* A regular file, symlink or hard link of an archive, by its normalized name. */
struct tar_member {
  char *name;
  char *target;                /* links: the normalized name it points at; NULL for files */
  char digest[DIGEST_STR_MAX]; /* files: the blob holding the content in the temp layout */
  int64_t size;
};

/* The members in archive order, and an open-addressing index of them by name: an archive may
 * hold ARCHIVE_MAX_ENTRIES names and each is looked up when added (duplicates are refused), so
 * a linear scan would make reading quadratic. */
struct tar_members {
  struct tar_member *v;
  size_t n, cap;
  size_t *slots; /* index in v + 1, 0: empty; a power of two, at most half full */
  size_t n_slots;
};

/* The file name stands for, links followed; fails naming the archive and the entry. */
int tar_member_find(const struct image_archive *a, const struct tar_members *m, const char *name,
                    const struct tar_member **out, guise_error **err);
/* The content of a small member (manifest.json, a config). */
int tar_member_read(const struct image_archive *a, const struct tar_members *m, const char *name,
                    char **data, size_t *len, guise_error **err);

/* A new, zeroed image of a. */
struct archive_image *image_archive_add(struct image_archive *a);

/* docker-archive: manifest.json's images converted to OCI manifests in a->layout. */
int docker_archive_parse(struct image_archive *a, const struct tar_members *m, guise_error **err);
/* docker-archive: the entries of items, written into w. */
int docker_archive_add(struct archive *w, const struct image_store *s,
                       const struct archive_item *items, size_t n, const char *path,
                       guise_error **err);

/* Entries of an archive being written (path names it in errors). */
int archive_add_bytes(struct archive *w, const char *name, const void *data, size_t len,
                      const char *path, guise_error **err);
int archive_add_fd(struct archive *w, const char *name, int fd, int64_t size, const char *path,
                   guise_error **err);

/* The store name of a normalized reference text ("busybox:1" -> docker.io/library/busybox:1). */
int archive_normalize_name(const char *text, char **out, guise_error **err);

#endif
