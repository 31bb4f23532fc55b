/* OCI and Docker schema 2 manifests, image indexes / manifest lists and image configs. */
#ifndef GUISE_IMAGE_MANIFEST_H
#define GUISE_IMAGE_MANIFEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/error.h"

#define MT_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MT_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MT_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MT_OCI_LAYER "application/vnd.oci.image.layer.v1.tar"
#define MT_OCI_LAYER_GZIP "application/vnd.oci.image.layer.v1.tar+gzip"
#define MT_OCI_LAYER_ZSTD "application/vnd.oci.image.layer.v1.tar+zstd"
#define MT_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"
#define MT_DOCKER_LAYER_GZIP "application/vnd.docker.image.rootfs.diff.tar.gzip"
#define MT_DOCKER_LAYER_FOREIGN "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
#define MT_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

#define ANNOTATION_REF_NAME "org.opencontainers.image.ref.name"

/* jansson's own json_decrefp as a cleanup attribute */
#define _cleanup_json_ __attribute__((cleanup(json_decrefp)))

/* Maximum size of a manifest or config read into memory. */
#define MANIFEST_MAX_BYTES (4u << 20)

struct oci_descriptor {
  char *media_type;
  char *digest;
  int64_t size;
  /* indexes only */
  char *os, *architecture, *variant;
};

struct image_manifest {
  char *media_type; /* MT_OCI_MANIFEST or MT_DOCKER_MANIFEST */
  struct oci_descriptor config;
  struct oci_descriptor *layers;
  size_t n_layers;
};

struct image_index {
  char *media_type; /* MT_OCI_INDEX or MT_DOCKER_LIST */
  struct oci_descriptor *manifests;
  size_t n_manifests;
};

enum manifest_kind { MANIFEST_KIND_MANIFEST, MANIFEST_KIND_INDEX };

/* Which of the two a document is, from its mediaType, else the Content-Type the registry sent
 * (may be NULL), else its shape ("manifests" vs "layers"). */
int manifest_detect(const char *data, size_t len, const char *content_type,
                    enum manifest_kind *kind, guise_error **err);

/* Parse and validate (digests well-formed, sizes >= 0, media types known). Errors start with
 * "manifest: " / "index: ". */
int manifest_parse(const char *data, size_t len, struct image_manifest **out, guise_error **err);
void manifest_free(struct image_manifest *m);
int index_parse(const char *data, size_t len, struct image_index **out, guise_error **err);
void index_free(struct image_index *idx);
void descriptor_clear(struct oci_descriptor *d);

static inline void manifest_freep(struct image_manifest **m)
{
  if (*m != NULL)
    manifest_free(*m);
}
static inline void index_freep(struct image_index **i)
{
  if (*i != NULL)
    index_free(*i);
}
#define _cleanup_manifest_ __attribute__((cleanup(manifest_freep)))
#define _cleanup_index_ __attribute__((cleanup(index_freep)))

/* "linux/amd64" style platform of this machine (linux/arm64/v8 on aarch64 is "linux/arm64"). */
const char *platform_host_default(void);
/* Pick the manifest of the platform "os/arch[/variant]" (NULL: the host's).  Variant is matched
 * when given (arm64's "v8" is also accepted as no variant).  Error names the platforms there are. */
int index_select_platform(const struct image_index *idx, const char *platform,
                          const struct oci_descriptor **out, guise_error **err);

/* The parts of an image config guise uses. */
struct image_config {
  char *created;      /* RFC 3339, may be NULL */
  char *os, *architecture, *variant;
  char **diff_ids;     /* NULL-terminated */
  size_t n_diff_ids;
  json_t *json;        /* the whole document (owned) */
};
int image_config_parse(const char *data, size_t len, struct image_config **out,
                       guise_error **err);
void image_config_free(struct image_config *c);
static inline void image_config_freep(struct image_config **c)
{
  if (*c != NULL)
    image_config_free(*c);
}
#define _cleanup_image_config_ __attribute__((cleanup(image_config_freep)))

/* Load JSON with an error that says what and where: "<what>: invalid JSON at line 1: ..." */
json_t *json_parse_named(const char *what, const char *data, size_t len, guise_error **err);

#endif
