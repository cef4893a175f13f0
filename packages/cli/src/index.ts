// @razor/cli public API: the program as a function, and the terminal helpers other packages' commands share.
export { runCli, commands, cliVersion } from './main.js';
export type { CliIo } from './cli-io.js';
export type { Command } from './command.js';
export { UsageError } from './usage-error.js';
export { formatCount, formatBytes, formatMilliseconds, formatClock, formatPercent, formatShape } from './format-units.js';
export { renderTable } from './table.js';
export type { TableColumn } from './table.js';
export { ProgressBar } from './progress-bar.js';
export type { ProgressBarOptions, ProgressStream } from './progress-bar.js';
export { tensorChecksum } from './checksum.js';
export type { TensorChecksum } from './checksum.js';
