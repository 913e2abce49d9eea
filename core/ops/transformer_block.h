/* The pre-norm transformer block on the op layer, for the api table (the
 * structs and the contract are in unic/transformer_block.h, the SDK's). */
#ifndef UNIC_OPS_TRANSFORMER_BLOCK_H
#define UNIC_OPS_TRANSFORMER_BLOCK_H

#include "unic/transformer_block.h"

/* Zero-filled activations for up to max_rows token rows (a multiple of
 * tokens) on the device of b's weights: work buffers (keep = 0) or what a
 * forward keeps for backward (keep = 1). */
unic_block_activations *unic_block_activations_new(const unic_block *b, int64_t max_rows,
                                                   int tokens, int keep);
void unic_block_activations_free(unic_block_activations *a);
/* x [rows, dim] (or [images, tokens, dim]) <- block(x), in place. saved:
 * NULL keeps nothing; else keep = 1 activations that receive x's rows from
 * row first_row on (a batch forwarded in chunks keeps all of it). work:
 * keep = 0 activations of at least rows rows. */
void unic_block_forward(unic_tensor *x, const unic_block *b, unic_block_activations *saved,
                        int64_t first_row, unic_block_activations *work);
/* dx [rows, dim]: dL/d(output) on entry, dL/d(input) on return, for the
 * saved rows 0..rows; accumulates into b->g. input_grad = 0 (nothing before
 * the block trains) skips norm1's input gradient and leaves dx undefined. */
void unic_block_backward(unic_tensor *dx, const unic_block *b,
                         const unic_block_activations *saved, unic_block_activations *work,
                         int input_grad);

#endif
