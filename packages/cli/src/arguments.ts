import { parseArgs, type ParseArgsConfig } from 'node:util';
import { UsageError } from './usage-error.js';

/** `--help`/`-h`, which every command accepts. */
export const helpOption = { help: { type: 'boolean', short: 'h' } } as const;

/**
 * Runs a node:util parseArgs call (strict, positionals allowed) and turns its errors into
 * UsageErrors that name the command.
 */
export function withUsageErrors<T>(command: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    // parseArgs messages end with advice about '--' that is noise here; keep the first sentence.
    throw new UsageError(message.split('\n')[0]!.replace(/\. To specify a positional argument.*$/, ''), command);
  }
}

/** A whole number ≥ `minimum` from an option's text; a UsageError naming the option otherwise. */
export function parseInteger(value: string, option: string, command: string, minimum = 1): number {
  const number = /^[+-]?\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(number) || number < minimum) {
    throw new UsageError(`${option} must be a whole number of at least ${minimum}, got '${value}'`, command);
  }
  return number;
}

/** A positive finite number from an option's text. */
export function parsePositiveNumber(value: string, option: string, command: string): number {
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number) || number <= 0) {
    throw new UsageError(`${option} must be a positive number, got '${value}'`, command);
  }
  return number;
}

/** Exactly one positional argument (the model file, the zoo name). */
export function singlePositional(positionals: readonly string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what}`, command);
  if (positionals.length > 1) throw new UsageError(`expected one ${what}, got ${positionals.length}: ${positionals.join(' ')}`, command);
  return positionals[0]!;
}

type OptionsConfig = NonNullable<ParseArgsConfig['options']>;
type ParsedCommand<T extends OptionsConfig> = ReturnType<typeof parseArgs<{ args: string[]; options: T & typeof helpOption; allowPositionals: true; strict: true }>>;

/**
 * Parses a command's arguments strictly, with positionals allowed and `--help`/`-h` added;
 * parse errors become UsageErrors naming the command.
 */
export function parseCommandArguments<T extends OptionsConfig>(command: string, argv: readonly string[], options: T): ParsedCommand<T> {
  return withUsageErrors(command, () =>
    parseArgs({ args: [...argv], options: { ...options, ...helpOption }, allowPositionals: true, strict: true }),
  );
}
