import type { CliIo } from './cli-io.js';

/** One `razor` subcommand. */
export interface Command {
  /** The word after `razor`. */
  name: string;
  /** One line for the program's help. */
  summary: string;
  /** The full text of `razor <name> --help`. */
  help: string;
  /** Runs the command on the arguments after its name; resolves to the exit code. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}
