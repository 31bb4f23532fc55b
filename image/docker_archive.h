/* Writing an image as a docker-archive (`docker save` format). */
#ifndef GUISE_IMAGE_DOCKER_ARCHIVE_H
#define GUISE_IMAGE_DOCKER_ARCHIVE_H

#include "image/store.h"
#include "util/error.h"

/* Write img (its blobs in s) to the new file path; repo_tag ("name:tag", may be NULL) goes to
 * RepoTags.  Layers are stored uncompressed and checked against their diff ids.  On failure
 * path is removed. */
int docker_archive_write(const struct image_store *s, const struct stored_image *img,
                         const char *repo_tag, const char *path, guise_error **err);

#endif
