// The training engine's public face: what the orchestration (activities/) calls.
export { initBackend } from './backend';
export { createTrainer } from './factory';
export { countParams, solveSize } from '../domain/sizing';
export type { BackendName, EvalResult, MetricSummary, LayerMetric, ParamCounts, StepLog, Trainer } from './types';
