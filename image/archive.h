/* Image archives: oci-archive (a tar of an OCI image layout) and docker-archive (the `docker
 * save` format: manifest.json, <config>.json, layer tars), read into the store and written from
 * it, and rootfs tarballs imported as one-layer images.
 *
 * Reading never uses a name from the archive as a filesystem path: every regular entry is
 * streamed into a private temp layout inside the store (<store>/tmp/.tmp-archive-*) as a blob
 * named by the sha256 of its content, and the archive's names only index a table in memory
 * (symlinks and hard links are resolved in that table).  Absolute names, names climbing out
 * with "..", other entry types, duplicates and oversize archives are refused with the entry
 * named; blobs of an OCI layout must match their names, docker-archive layers their config's
 * diff ids.  Everything is checked before the caller names anything. */
#ifndef GUISE_IMAGE_ARCHIVE_H
#define GUISE_IMAGE_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include "image/digest.h"
#include "image/manifest.h"
#include "image/reference.h"
#include "image/store.h"
#include "util/error.h"

/* Total bytes an archive may hold (GUISE_ARCHIVE_MAX_BYTES overrides). */
#define ARCHIVE_DEFAULT_MAX_BYTES (64ULL << 30)
#define ARCHIVE_MAX_ENTRIES 100000

struct archive_image {
  struct oci_descriptor desc; /* its manifest (or index) in the temp layout */
  char **names; /* store names it carries, NULL-terminated; an image without any is named
                 * after the file: localhost/<base name>:latest ("loaded" for stdin) */
  char *ref;    /* oci-archive: its ref.name annotation as written, or NULL */
};

struct image_archive {
  char *path; /* as given ("-": standard input) */
  enum image_transport format;
  struct image_store *layout; /* the temp layout holding its blobs */
  struct archive_image *images;
  size_t n_images;
};

/* Read the archive at path ("-": standard input) into a temp layout in s.  want is
 * TRANSPORT_OCI_ARCHIVE, TRANSPORT_DOCKER_ARCHIVE, or TRANSPORT_NAME to detect the format
 * (manifest.json: docker-archive, else index.json: oci-archive).  Gzip, zstd, xz and bzip2
 * compressed archives are read too. */
int image_archive_read(struct image_store *s, const char *path, enum image_transport want,
                       struct image_archive **out, guise_error **err);
/* Removes the temp layout. */
void image_archive_free(struct image_archive *a);
static inline void image_archive_freep(struct image_archive **a)
{
  if (*a != NULL) image_archive_free(*a);
}
#define _cleanup_image_archive_ __attribute__((cleanup(image_archive_freep)))

/* The image of the archive ref selects (NULL: the only one): a name it carries (docker-archive
 * RepoTags, normalized; oci-archive ref.name annotations as written) or "@N", the Nth. */
int image_archive_select(const struct image_archive *a, const char *ref,
                         const struct archive_image **out, guise_error **err);

/* What to write: a stored image under names (NULL-terminated; may be NULL). */
struct archive_item {
  const struct stored_image *img;
  char **names;
};

/* Write items as format (TRANSPORT_OCI_ARCHIVE or TRANSPORT_DOCKER_ARCHIVE) to path ("-":
 * standard output).  A file is written beside path and renamed: it appears complete or not at
 * all.  oci-archive: every name is a ref.name annotation of index.json.  docker-archive: names
 * go to RepoTags, layers are stored uncompressed and checked against their diff ids. */
int image_archive_write(const struct image_store *s, enum image_transport format,
                        const struct archive_item *items, size_t n, const char *path,
                        guise_error **err);

/* The sha256 of a layer blob once decompressed (gzip, zstd or none), and its size; the
 * decompressed bytes are also written to out_fd when it is >= 0. */
int layer_blob_diff_id(const char *blob, int out_fd, char diff_id[DIGEST_STR_MAX], uint64_t *size,
                       guise_error **err);

struct image_import_options {
  const char *name;    /* store name (already normalized); NULL: localhost/import-<id>:latest */
  json_t *config;      /* the config's "config" object (Cmd, Env, ... from --change); may be NULL */
  const char *message; /* history comment; may be NULL */
  const char *source;  /* what the history says was added ("file.tar", "-") */
};

/* A rootfs tarball (path or "-", maybe compressed) as a one-layer image: the layer is the tar
 * decompressed, stored as is (owners, devices and xattrs kept); the image is unpacked (bad
 * entries fail it) and named last.  *name_out gets the name, image_id the config digest. */
int image_import(struct image_store *s, const char *path, const struct image_import_options *o,
                 char **name_out, char image_id[72], guise_error **err);

#endif
