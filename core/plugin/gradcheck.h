/* The generic checks every head, loss and miner must pass with its default
 * parameters, so a new plugin is covered without a test of its own:
 *   head:  finite-difference gradients of d input and of each parameter;
 *   loss:  finite-difference gradients of d p_anchor, d p_pos, d p_neg, a
 *          finite value, and `scale` multiplying gradients that accumulate;
 *   miner: the contract on points in well-separated clusters: `mine`
 *          succeeds, `sample` is a pure function of its stream, partners are
 *          in range (-1 exactly when `count` is 0) and no more varied than
 *          `count` says, negatives never the anchor, and the role holds
 *          (positives mostly in the anchor's cluster, negatives no more often
 *          than chance).
 * The test suite and `unic gradcheck PLUGIN.so` share this implementation. */
#ifndef UNIC_GRADCHECK_H
#define UNIC_GRADCHECK_H

#include "unic/plugin.h"

typedef struct unic_check {
    const unic_component *component;
    char name[128];     /* "d input", "d fc1.weight", "sample is a pure function of the stream" */
    int numeric;        /* error and tolerance apply (the gradient checks) */
    double error;       /* relative error ||fd - analytic|| / ||fd|| */
    double tolerance;
    int pass;
    char detail[512];   /* measured numbers, or why it failed */
} unic_check;

typedef void (*unic_check_report)(const unic_check *check, void *ctx);

/* 1 for the kinds with generic checks (head, loss, miner). */
int unic_gradcheck_supports(unic_kind kind);

/* Runs every check of c's kind, calling report once per check; returns how
 * many failed. A component that cannot be created or set up with its
 * defaults is one failed check. */
int unic_gradcheck_component(const unic_component *c, unic_check_report report, void *ctx);

#endif
