/* `guise load` of an archive: the input is read as an oci-archive or a docker-archive (the
 * format detected as load does, then each forced), its entries into a temp layout of a store,
 * manifest.json or index.json parsed, blobs checked against their names, links resolved. */
#include "image/archive.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static struct image_store *store;
  static char *path;
  if (store == NULL) {
    _cleanup_free_ char *root = fuzz_path("store");
    _cleanup_error_ guise_error *err = NULL;
    if (image_store_open(root, &store, &err) < 0) abort();
    path = fuzz_path("input.tar");
    /* A bomb costs nothing. */
    setenv("GUISE_ARCHIVE_MAX_BYTES", "4194304", 1);
  }
  fuzz_write(path, data, size);
  static const enum image_transport how[] = {TRANSPORT_NAME, TRANSPORT_OCI_ARCHIVE,
                                             TRANSPORT_DOCKER_ARCHIVE};
  for (size_t i = 0; i < sizeof(how) / sizeof(how[0]); i++) {
    _cleanup_image_archive_ struct image_archive *a = NULL;
    _cleanup_error_ guise_error *err = NULL;
    if (image_archive_read(store, path, how[i], &a, &err) < 0) continue;
    const struct archive_image *img;
    _cleanup_error_ guise_error *e1 = NULL, *e2 = NULL, *e3 = NULL;
    image_archive_select(a, NULL, &img, &e1);
    image_archive_select(a, "@0", &img, &e2);
    image_archive_select(a, "busybox:latest", &img, &e3);
  }
  return 0;
}
