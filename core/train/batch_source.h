/* Where a training step's head input comes from. Whatever the mode, a step
 * asks for the rows of its anchors and gets the run's x_host filled as
 * [anchors | positives | negatives], with the partners it drew in
 * batch_idx; the step itself never knows which mode fed it. */
#ifndef UNIC_BATCH_SOURCE_H
#define UNIC_BATCH_SOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "train/run_internal.h"

typedef enum batch_mode {
    BATCH_EMBEDDINGS, /* rows of the embeddings computed once */
    BATCH_AUGMENTED,  /* the images again under [data] train_transform, each role through the
                         frozen backbone */
    BATCH_TRAINABLE,  /* the images through a backbone that trains: one forward over all
                         roles, which its backward needs together */
    BATCH_TOKENS,     /* the images through the backbone's tokens, for a head that takes them */
} batch_mode;

/* The modes that read images take a whole epoch's partners up front:
 * anchors, positives and negatives each get a loader with their own random
 * streams, so an image paired with itself is still seen under two
 * augmentations, as in SCAN. */
typedef struct batch_source {
    run *r;
    batch_mode mode;
    int epoch;
    int roles;              /* loaders open: anchors, positives (, negatives) */
    unic_loader *loader[3];
    int64_t *order[3];      /* dataset index of every item each loader reads */
} batch_source;

/* The mode a run's components and [data] settings call for. */
batch_mode batch_source_mode(const run *r);

/* Opens the source for an epoch whose anchors come in `anchors` order
 * (r->n of them) and whose first step is numbered first_step. */
int batch_source_open(batch_source *s, run *r, int epoch, const int64_t *anchors,
                      int64_t first_step, char *err, size_t errlen);

/* Fills the head input for step step_no's b anchors. 0 when an image
 * failed to decode this time and the step has no input (it is skipped);
 * augmented rows then fall back to the test-transform embeddings instead. */
int batch_source_rows(batch_source *s, const int64_t *anchors, int b, int64_t step_no);

void batch_source_close(batch_source *s);

#endif
