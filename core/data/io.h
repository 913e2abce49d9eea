/* The file formats users bring, one reader per file under data/formats/:
 * safetensors (model hubs), .npy (numpy), IDX (MNIST family, optionally
 * gzipped) and label lists. Every failure names the file and what is wrong
 * with it. Include the one you need; this header gathers them all. */
#ifndef UNIC_IO_H
#define UNIC_IO_H

#include "data/formats/array.h"
#include "data/formats/idx.h"
#include "data/formats/labels.h"
#include "data/formats/npy.h"
#include "data/formats/safetensors.h"

#endif
