/* The project's limits (core/base/limits.h) are enforced where values
 * enter: a label file with a class beyond UNIC_MAX_CLASSES is refused with
 * a message naming the file, the item and the bound. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/limits.h"
#include "data/dataset.h"
#include "data/io.h"
#include "experiment/experiment.h"
#include "helpers.h"

static char *write_npy(const char *dir, const char *name, unic_dtype dt, int ndim,
                       const int64_t *shape, void *data, size_t nbytes)
{
    char *path = test_path(dir, name), err[512];
    unic_array a = {.name = NULL, .dtype = dt, .ndim = ndim, .data = data, .nbytes = nbytes};
    memcpy(a.shape, shape, (size_t)ndim * sizeof(int64_t));
    cr_assert_eq(unic_npy_save(path, &a, err, sizeof err), 0, "%s", err);
    return path;
}

static int load_with_labels(int32_t last_label, char *err, size_t errlen)
{
    char *dir = test_tmpdir("limits");
    float x[3 * 2] = {0, 1, 2, 3, 4, 5};
    int32_t y[3] = {0, 1, last_label};
    char *xp = write_npy(dir, "x.npy", UNIC_DT_F32, 2, (int64_t[]){3, 2}, x, sizeof x);
    char *yp = write_npy(dir, "y.npy", UNIC_DT_I32, 1, (int64_t[]){3}, y, sizeof y);
    unic_dataset d;
    int rc = unic_dataset_load(xp, NULL, yp, 0, &d, err, errlen);
    if (rc == 0) unic_dataset_free(&d);
    unlink(xp);
    unlink(yp);
    rmdir(dir);
    free(xp);
    free(yp);
    free(dir);
    return rc;
}

Test(limits, label_at_the_class_limit_is_refused_naming_file_and_item)
{
    char err[1024] = "";
    cr_assert_eq(load_with_labels(UNIC_MAX_CLASSES - 1, err, sizeof err), 0, "%s", err);
    cr_assert_neq(load_with_labels(UNIC_MAX_CLASSES, err, sizeof err), 0);
    cr_expect(strstr(err, "y.npy") && strstr(err, "item 2") && strstr(err, "[0, 4096)"), "%s",
              err);
    cr_assert_neq(load_with_labels(2147483647, err, sizeof err), 0);
    cr_assert_neq(load_with_labels(-1, err, sizeof err), 0);
    cr_expect(strstr(err, "label -1"), "%s", err);
}

Test(limits, class_count_bounds)
{
    char err[256];
    cr_expect_eq(unic_check_class_count(1, "[head] classes", err, sizeof err), 0);
    cr_expect_eq(unic_check_class_count(UNIC_MAX_CLASSES, "[head] classes", err, sizeof err), 0);
    cr_expect_neq(unic_check_class_count(0, "[head] classes", err, sizeof err), 0);
    cr_expect_neq(unic_check_class_count(UNIC_MAX_CLASSES + 1, "[head] classes", err, sizeof err),
                  0);
    cr_expect(strstr(err, "[head] classes") && strstr(err, "4096"), "%s", err);
}

/* Special files once made `unic check` hang (old_classes = /dev/zero). */
Test(limits, special_and_oversized_inputs_are_refused)
{
    char err[1024] = "";
    cr_assert_neq(unic_check_input_file("/dev/zero", "class split file", UNIC_MAX_TEXT_FILE_BYTES,
                                        err, sizeof err), 0);
    cr_expect(strstr(err, "/dev/zero") && strstr(err, "not a regular file"), "%s", err);
    cr_assert_neq(unic_check_input_file("/tmp", "list", 0, err, sizeof err), 0);
    char *dir = test_tmpdir("limits"), *path = test_path(dir, "big.txt");
    test_write_text(path, "old 1\nold 2\n");
    cr_expect_eq(unic_check_input_file(path, "list", 12, err, sizeof err), 0, "%s", err);
    cr_expect_neq(unic_check_input_file(path, "list", 11, err, sizeof err), 0);
    cr_expect(strstr(err, "12 bytes") && strstr(err, "at most 11"), "%s", err);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

Test(limits, old_classes_from_dev_zero_stops_check)
{
    unsigned char mask[UNIC_MAX_CLASSES];
    int count = 0;
    char err[1024] = "";
    cr_assert_neq(unic_parse_class_list("/dev/zero", mask, UNIC_MAX_CLASSES, &count, err,
                                        sizeof err), 0);
    cr_expect(strstr(err, "not a regular file"), "%s", err);
}
