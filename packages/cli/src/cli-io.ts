import type { ProgressStream } from './progress-bar.js';

/** The streams a command writes to; tests pass string collectors, `bin.ts` the process streams. */
export interface CliIo {
  stdout: ProgressStream;
  stderr: ProgressStream;
}

/** The process's own stdout and stderr. */
export function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr };
}
