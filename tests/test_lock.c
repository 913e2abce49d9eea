/* Run folders and mining-cache keys are locked (core/base/lock.h): two runs
 * into one folder once wrote over each other; now the second is refused at
 * once, naming the first one's pid, and a killed holder leaves no stale
 * lock behind. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/lock.h"
#include "helpers.h"

Test(lock, a_held_lock_is_refused_naming_its_holder)
{
    char *dir = test_tmpdir("lock"), *path = test_path(dir, ".lock"), err[512] = "";
    int held = unic_lock_take(path, "run folder x", 0, err, sizeof err);
    cr_assert_geq(held, 0, "%s", err);
    cr_expect_lt(unic_lock_take(path, "run folder x", 0, err, sizeof err), 0);
    char pid[64];
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    cr_expect(strstr(err, "run folder x is in use by another unic process") && strstr(err, pid),
              "%s", err);
    unic_lock_release(held);
    int again = unic_lock_take(path, "run folder x", 0, err, sizeof err);
    cr_expect_geq(again, 0, "released, it can be taken again: %s", err);
    unic_lock_release(again);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

Test(lock, kill_9_leaves_no_stale_lock)
{
    char *dir = test_tmpdir("lock"), *path = test_path(dir, ".lock"), err[512] = "";
    pid_t kid = fork();
    cr_assert_geq(kid, 0);
    if (kid == 0) {
        if (unic_lock_take(path, "run folder", 0, err, sizeof err) < 0) _exit(1);
        raise(SIGKILL);
    }
    int status;
    waitpid(kid, &status, 0);
    cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the holder must die by kill -9");
    int fd = unic_lock_take(path, "run folder", 0, err, sizeof err);
    cr_expect_geq(fd, 0, "the kernel released the dead holder's lock: %s", err);
    unic_lock_release(fd);
    unlink(path);
    rmdir(dir);
    free(path);
    free(dir);
}

/* A second `unic run` into a folder in use stops before writing anything. */
Test(lock, second_run_into_a_folder_in_use_is_refused, .timeout = 300)
{
    if (access("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz", R_OK) != 0)
        cr_skip_test("dataset-fashion-mnist is not installed");
    char *dir = test_tmpdir("lock"), *path = test_path(dir, ".lock"), err[512] = "";
    int held = unic_lock_take(path, "run folder", 0, err, sizeof err);
    cr_assert_geq(held, 0, "%s", err);
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "cd " UNIC_SOURCE_DIR " && " UNIC_BINARY_DIR "/unic run experiments/quickstart.ini "
             "--quiet --out %s --set data.limit=300 --set train.epochs=1 "
             "--set miner.negatives.tau2=100 2>&1", dir);
    int status;
    char *out = test_run(cmd, &status), pid[64];
    snprintf(pid, sizeof pid, "(pid %ld)", (long)getpid());
    cr_expect_neq(status, 0, "%s", out);
    cr_expect(strstr(out, "is in use by another unic process") && strstr(out, pid), "%s", out);
    char *log = test_path(dir, "log.txt");
    cr_expect_neq(access(log, F_OK), 0, "nothing may be written into a folder in use");
    free(out);
    unic_lock_release(held);
    out = test_run(cmd, &status);
    cr_expect_eq(status, 0, "the folder is free again: %s", out);
    free(out);
    free(log);
    test_remove_tree(dir);
    free(path);
    free(dir);
}
