/* The local image store: an OCI image layout (oci-layout, index.json, blobs/sha256/) under
 * ${GUISE_ROOT:-${XDG_DATA_HOME:-$HOME/.local/share}/guise}, with images named by the
 * org.opencontainers.image.ref.name annotation ("127.0.0.1:5000/busybox:latest"), plus the
 * unpacked root filesystem of each image under rootfs/<config-digest-hex>/ (its fakefs
 * database next to it).
 *
 * Safe for concurrent guise processes: index.json is only changed under an flock of
 * index.lock and replaced by rename; blobs are written to temp files in blobs/sha256/,
 * verified (size and sha256) and renamed into place; a rootfs is unpacked into a temp
 * directory and renamed when complete; an image is tagged last.  A killed pull leaves only
 * temp files, which prune removes.
 *
 * The same functions work on any OCI layout directory (the oci: transport), whose reference
 * names are short ("latest"). */
#ifndef GUISE_IMAGE_STORE_H
#define GUISE_IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "image/digest.h"
#include "image/layer.h"
#include "image/manifest.h"
#include "util/error.h"

struct image_store {
  char *root;
  int rootfd;
};

/* root NULL: $GUISE_ROOT, else the default above.  Created when missing. */
int image_store_open(const char *root, struct image_store **out, guise_error **err);
/* An OCI layout directory; created (with oci-layout and an empty index) when create. */
int image_layout_open(const char *dir, bool create, struct image_store **out, guise_error **err);
void image_store_close(struct image_store *s);
static inline void image_store_closep(struct image_store **s)
{
  if (*s != NULL)
    image_store_close(*s);
}
#define _cleanup_image_store_ __attribute__((cleanup(image_store_closep)))

/* Exclusive lock of the store (index.lock) for changes to index.json, rootfs/ and containers/:
 * a fd to close to release it. */
int image_store_lock(const struct image_store *s, guise_error **err);

/* --- blobs --- */
/* "<root>/blobs/sha256/<hex>", malloc'd. */
char *image_store_blob_path(const struct image_store *s, const char *digest);
/* 1 when the blob is present (with that size when size >= 0), 0 when not. */
int image_store_has_blob(const struct image_store *s, const char *digest, int64_t size);
/* A new temp file in blobs/sha256/ for a blob being written. */
int image_store_blob_tmp(const struct image_store *s, char **tmp_path, int *fd, guise_error **err);
/* Move a complete temp file into place as digest.  Unless already_verified, its size and
 * sha256 are checked first; on any failure the temp file is removed. */
int image_store_blob_commit(const struct image_store *s, const char *tmp_path, const char *digest,
                            int64_t size, bool already_verified, guise_error **err);
/* Store bytes (verified against expected_digest when not NULL); digest_out may be NULL. */
int image_store_put_blob(const struct image_store *s, const void *data, size_t len,
                         const char *expected_digest, char *digest_out, guise_error **err);
/* Read a small blob (manifests, configs) and check its digest. */
int image_store_read_blob(const struct image_store *s, const char *digest, size_t max, char **data,
                          size_t *len, guise_error **err);

/* --- names (index.json) --- */
struct image_store_entry {
  char *name; /* ref.name annotation, may be NULL in foreign layouts */
  struct oci_descriptor desc;
};
int image_store_list(const struct image_store *s, struct image_store_entry **out, size_t *n,
                     guise_error **err);
void image_store_entries_free(struct image_store_entry *e, size_t n);
/* Point name at the manifest desc (replacing what it named); name NULL: keep desc as an
 * unnamed image (a commit without a name), reachable by its id. */
int image_store_tag(const struct image_store *s, const char *name, const struct oci_descriptor *desc,
                    guise_error **err);
/* Remove name (NULL: the unnamed entry of the manifest digest): 0, or -1 with errnum ENOENT
 * when there is no such name. */
int image_store_untag(const struct image_store *s, const char *name, const char *digest,
                      guise_error **err);
/* Find what the user means by text: an exact stored name, the normalized name
 * (busybox -> docker.io/library/busybox:latest), a unique stored name with that repository
 * suffix and tag (busybox -> 127.0.0.1:5000/busybox:latest), or an image id prefix.
 * *name gets the stored name, *desc a copy of its descriptor (either may be NULL). */
int image_store_resolve(const struct image_store *s, const char *text, char **name,
                        struct oci_descriptor *desc, guise_error **err);

/* A stored image, loaded: its manifest (an index is resolved to the host's platform) and
 * config. */
struct stored_image {
  char *name;
  struct oci_descriptor desc; /* of the manifest */
  char *manifest_raw;
  size_t manifest_len;
  struct image_manifest *manifest;
  char *config_raw;
  size_t config_len;
  struct image_config *config;
};
int image_store_load(const struct image_store *s, const char *text, struct stored_image **out,
                     guise_error **err);
/* The image of a manifest digest (whether or not a name is left on it); name, for messages and
 * img->name, may be NULL. */
int image_store_load_manifest(const struct image_store *s, const char *digest, const char *name,
                              struct stored_image **out, guise_error **err);
void stored_image_free(struct stored_image *img);
static inline void stored_image_freep(struct stored_image **i)
{
  if (*i != NULL)
    stored_image_free(*i);
}
#define _cleanup_stored_image_ __attribute__((cleanup(stored_image_freep)))

/* --- root filesystems --- */
/* "<root>/rootfs/<config hex>" (may not exist yet). */
char *image_store_rootfs_path(const struct image_store *s, const struct stored_image *img);
/* Keep dir as the unpacked rootfs of the image with that config digest (a build's last stage
 * is its image's layers applied: the image then needs no unpacking).  dir and its faked-state
 * database (closed) are renamed into the store, which must be on the same filesystem.  1 when
 * adopted; 0 when not (the store had one already: then dir is removed; or the database has a
 * WAL left: dir is untouched); -1 with *err (dir untouched). */
int image_store_adopt_rootfs(const struct image_store *s, const char *config_digest,
                             const char *dir, guise_error **err);
/* Unpack the image's layers (unless already done) and return its rootfs path. */
int image_store_unpack(const struct image_store *s, const struct stored_image *img,
                       char **rootfs_path, guise_error **err);
/* Apply the image's layers to dir (an empty directory) with its faked-state database db_path
 * (created when missing).  On failure dir is partially applied (the caller discards it). */
int image_store_apply(const struct image_store *s, const struct stored_image *img, const char *dir,
                      const char *db_path, guise_error **err);

/* --- writing images --- */
/* Write rootfd's changes since base (everything when base is NULL) as a layer blob in the store
 * (with the faked state of db, may be NULL); desc gets its descriptor (an OCI layer media type
 * for opts->compression) and diff_id the digest of the uncompressed tar. */
int image_store_write_layer(const struct image_store *s, int rootfd, struct fakefs_db *db,
                            const struct rootfs_snapshot *base,
                            const struct layer_write_options *opts, struct oci_descriptor *desc,
                            char diff_id[DIGEST_STR_MAX], guise_error **err);
/* Store config (a complete image config) and an OCI manifest of it with layers (an array of
 * descriptors); desc gets the manifest's descriptor (to tag), image_id the config digest. */
int image_store_put_image(const struct image_store *s, json_t *config, json_t *layers,
                          struct oci_descriptor *desc, char image_id[DIGEST_STR_MAX],
                          guise_error **err);

/* Remove blobs no name reaches, rootfs directories of no named image, and temp files of dead
 * processes. */
struct prune_stats {
  size_t blobs, rootfs, temps;
  uint64_t bytes;
};
int image_store_prune(struct image_store *s, struct prune_stats *stats, guise_error **err);

/* --- copying images in and out --- */
struct image_copy_options {
  const char *platform; /* NULL: the host's */
  bool tls_verify;
  bool quiet;
  FILE *progress;       /* NULL: stderr */
  const char *username; /* explicit credentials, else auth.json */
  const char *password;
};
/* Pull ref (docker://, oci:, oci-archive:, docker-archive:, or a plain name meaning docker://)
 * into the store, unpack it and
 * name it; *name (may be NULL) gets the stored name.  Nothing is named unless everything
 * succeeded. */
int image_pull(struct image_store *s, const char *ref, const struct image_copy_options *opts,
               char **name, guise_error **err);
/* When an image named by the user is pulled: when it is not in the store (the default), every
 * time, or never. */
enum image_pull_policy { IMAGE_PULL_MISSING, IMAGE_PULL_ALWAYS, IMAGE_PULL_NEVER };
/* "missing", "always" (also NULL: a bare --pull, and "true"), "never" ("false") → 0, else -1. */
int image_pull_policy_parse(const char *text, enum image_pull_policy *out);
/* The stored image text names, pulled first as policy says (messages to opts->progress). */
int image_store_get(struct image_store *s, const char *text, enum image_pull_policy policy,
                    const struct image_copy_options *opts, struct stored_image **img,
                    guise_error **err);
/* Push a stored image to dest (docker://, oci:DIR[:REF], oci-archive:FILE[:REF],
 * docker-archive:FILE[:NAME]; NULL: docker://<its name>). */
int image_push(struct image_store *s, const char *name, const char *dest,
               const struct image_copy_options *opts, guise_error **err);

/* Copy the image top names in the layout lay (its manifest, or an index resolved to the
 * platform) into s and unpack it, without naming it; *stored gets its manifest's descriptor
 * for image_store_tag.  What `guise load` and `guise import` use. */
int image_store_copy_in(struct image_store *s, const struct image_store *lay,
                        const struct oci_descriptor *top, const struct image_copy_options *opts,
                        struct oci_descriptor *stored, guise_error **err);
/* The store name of an image of the layout or archive at path with ref name refname (may be
 * NULL): a full name as is, "TAG" as localhost/<path's base name>:TAG. */
char *image_layout_import_name(const char *path, const char *refname);

/* A new private temp directory <root>/tmp/.tmp-<what>-<pid>-<n> (prune removes those of dead
 * processes), and its removal. */
int image_store_tmpdir(const struct image_store *s, const char *what, char **path,
                       guise_error **err);
void image_store_remove_tmpdir(const char *path);

/* The default platform (os/arch[/variant]) from GUISE_PLATFORM or the host. */
const char *image_default_platform(void);

#endif
