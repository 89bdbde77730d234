/* mva.h - multivariate analysis of X-ray fluorescence maps: every public header. */
#ifndef MVA_H
#define MVA_H

#include "mva/error.h"
#include "mva/stack.h"
#include "mva/pass.h"
#include "mva/roi.h"
#include "mva/pca.h"
#include "mva/nmf.h"
#include "mva/rotate.h"
#include "mva/cluster.h"
#include "mva/result.h"
#include "mva/select.h"
#include "mva/compress.h"
#include "mva/report.h"
#include "mva/hdf5.h"
#include "mva/edf.h"
#include "mva/spec.h"

#endif
