// Custom search attributes, so runs can be filtered in the Temporal web UI, e.g.
//   SparsityActivation = "relu" AND SparsityWidthDepth > 16
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SA_SWEEP = defineSearchAttributeKey('SparsitySweep', SearchAttributeType.KEYWORD);
export const SA_ACTIVATION = defineSearchAttributeKey('SparsityActivation', SearchAttributeType.KEYWORD);
export const SA_WIDTH_DEPTH = defineSearchAttributeKey('SparsityWidthDepth', SearchAttributeType.DOUBLE);
export const SA_PRUNING = defineSearchAttributeKey('SparsityPruning', SearchAttributeType.KEYWORD);
export const SA_DMODEL = defineSearchAttributeKey('SparsityDModel', SearchAttributeType.INT);
export const SA_SEED = defineSearchAttributeKey('SparsitySeed', SearchAttributeType.INT);

/** Every custom attribute with its type, for registering them on a server. */
export const SEARCH_ATTRIBUTES = [SA_SWEEP, SA_ACTIVATION, SA_WIDTH_DEPTH, SA_PRUNING, SA_DMODEL, SA_SEED] as const;
