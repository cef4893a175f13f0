/**
 * A mistake in how the command was called (unknown command or option, missing or
 * malformed argument). The CLI prints it with a pointer to `--help` and exits with 2.
 */
export class UsageError extends Error {
  /** The command whose help to point at, when there is one. */
  readonly command: string | undefined;

  constructor(message: string, command?: string) {
    super(message);
    this.name = 'UsageError';
    this.command = command;
  }
}
