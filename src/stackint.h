/* Internal to the library: what a reader wrapping another one (src/spill.c) needs of a stack. */
#ifndef MVA_STACKINT_H
#define MVA_STACKINT_H

#include "mva/stack.h"

/* Exchanges the stack's reader with (*ops, *self): the wrapper gets the old one back. */
void mva_stack_swap_reader(mva_stack *s, const mva_reader_ops **ops, void **self);

/* The stack's reader, as it is. */
void mva_stack_get_reader(const mva_stack *s, const mva_reader_ops **ops, void **self);

/* The stack's description, for a wrapper that changes what it reads (snake, combine). */
mva_stack_info *mva_stack_info_edit(mva_stack *s);

/* Gives s the normalisation factors f (one malloc()ed block, see mva_norm_factors_new; NULL =
 * none): s owns them from now on, frees the ones it owned, and info.norm_factors is f. */
void mva_stack_set_norm(mva_stack *s, mva_norm_factors *f);

#endif
