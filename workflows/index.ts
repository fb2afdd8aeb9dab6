// The workflows a worker registers. Only deterministic code is reachable from here.
export { SweepWorkflow, pauseSignal, resumeSignal, progressQuery } from './sweep';
export { RunWorkflow, runProgressQuery } from './run';
