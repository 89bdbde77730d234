/* BLAS threads around the passes (src/blasctl.c).  Internal to the library. */
#ifndef MVA_BLASCTL_H
#define MVA_BLASCTL_H

/*
 * For passes whose products are skinny (randomized PCA, the scores pass, the NMF updates): caps
 * OpenBLAS's threads at one less than the online CPUs and returns the count before, for
 * mva_blas_restore.  The pass engine's reader thread keeps a core busy reading and converting,
 * and a BLAS thread competing with it slows both (measured on 2 cores: 400 x 640 x 2048
 * randomized PCA 27.6-37.3 s -> 17.7 s; NMF on the sample map 5.0 s -> 4.3 s).  Passes of
 * large products (the covariance's syrk) keep every thread.
 */
int mva_blas_leave_reader_a_core(void);
void mva_blas_restore(int threads);


#endif
