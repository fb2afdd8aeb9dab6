/** The analysis module's public surface (pure functions; no database access). */
export { LAWS, LAW_NAMES, CURVE_LAWS, isLawName, isCurveLaw, predictCurve, type CurveLawName, type LawName, type CurveLaw } from './laws';
export {
  fitCurve, fitChinchilla, fitPoints, predictBand, chinchillaParams, chinchillaComputeOptimal, outOfSampleCurve, outOfSampleChinchilla,
  type FitResult, type FitOptions, type ChinchillaOptions, type FitInput, type OutOfSampleResult, type ParamFlag,
} from './fit';
export { computeOptimal, predictLoss, isoLossD, epochGrid, huberObjective, type ChinchillaPoint, type ChinchillaParams } from './chinchilla';
export {
  fitPointsFromFile, fitResultJson, readDataFile, parseCsv, parseJsonColumns, requireColumn, DEFAULT_BOOTSTRAP, SPARSE_PRESETS,
  type FitPointsFileOptions, type DataTable, type FileFitResult, type DroppedRow,
} from './dataFile';
export { classifyFit, FIT_STATUSES, type FitStatus, type Verdict } from './verdict';
export { fitSparseChinchilla, predictSparse, sparseLoss, frantarT5Point, type SparsePoint } from './sparseChinchilla';
export { renderReport, specToSvg, svgToPng, type ReportInput, type ReportRun, type ReportPoint, type ReportLayerPoint, type ReportCurveFit, type ReportProvenanceRow } from './report';
export { compareNDefinitions, predictFromFit, N_DEFINITIONS, N_DEFINITION_LABEL, type JourneyRun, type JourneyComparison, type JourneyVariant, type NDefinition } from './journey';
export { groupRunsByConfig, formatGroupKey, flattenConfig, shortNumber, type RunGroup, type FlatConfig } from './groupKey';
