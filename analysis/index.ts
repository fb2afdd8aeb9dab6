/** The analysis module's public surface (pure functions; no database access). */
export { LAWS, LAW_NAMES, CURVE_LAWS, isLawName, predictCurve, type CurveLawName, type LawName, type CurveLaw } from './laws';
export {
  fitCurve, fitChinchilla, fitPoints, predictBand, chinchillaParams, chinchillaComputeOptimal, outOfSampleCurve, outOfSampleChinchilla,
  type FitResult, type FitOptions, type ChinchillaOptions, type FitInput, type OutOfSampleResult, type ParamFlag,
} from './fit';
export { computeOptimal, predictLoss, isoLossD, epochGrid, huberObjective, type ChinchillaPoint, type ChinchillaParams } from './chinchilla';
export { fitPointsFromFile, fitResultJson, readDataFile, parseCsv, parseJsonColumns, requireColumn, type FitPointsFileOptions, type DataTable } from './dataFile';
export { renderReport, specToSvg, svgToPng, type ReportInput, type ReportRun, type ReportPoint, type ReportLayerPoint, type ReportCurveFit, type ReportProvenanceRow } from './report';
