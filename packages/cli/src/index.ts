export { run } from './main';
export { EXIT, CliError } from './errors';
export { parsePipelineText, readPipelineFile } from './spec-file';
