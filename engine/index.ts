// The training engine's public face: what the orchestration (activities/) calls.
export { initBackend } from './backend';
export { createTrainer, prepareData } from './factory';
export { DataFileError } from './data/errors';
export { prepareText, loadHfTokenizer, readDocuments, findPreparedText, type PreparedText } from './data/textCorpus';
export { isValidationDocument } from './data/brownText';
export { TokenFile, DTYPE_BYTES, type DataProgress } from './data/tokenFile';
export { countParams, solveSize } from '../domain/sizing';
export type { BackendName, EvalResult, MetricSummary, LayerMetric, ParamCounts, StepLog, Trainer } from './types';
