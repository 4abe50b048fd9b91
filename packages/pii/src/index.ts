export { redactValues } from './redact.js';
export { findPii, kindOfColumn, luhnValid, ibanRemainder, type PiiKind, type PiiMatch } from './detect.js';
export {
  maskSample,
  scrubText,
  Masker,
  type SampleColumn,
  type SampleRow,
  type ColumnPiiReport,
  type MaskedSample,
} from './mask.js';
export { checksView, failureView, type Failure, type FailureAudience, type FailureCheck } from './failure-view.js';
