import { readFileSync } from 'node:fs';
import { RazorError } from '@razor/core';
import type { CliIo } from './cli-io.js';
import type { Command } from './command.js';
import { exportCommand } from './commands/export.js';
import { inspectCommand } from './commands/inspect.js';
import { optimizeCommand } from './commands/optimize.js';
import { runCommand } from './commands/run.js';
import { trainCommand } from './commands/train.js';
import { quantizeCommand } from './commands/quantize.js';
import { benchCommand } from './commands/bench.js';
import { zooCommand } from './commands/zoo.js';
import { oneLine } from './one-line.js';
import { UsageError } from './usage-error.js';

/** Every `razor` subcommand, in the order the help lists them. */
export const commands: readonly Command[] = [inspectCommand, runCommand, zooCommand, exportCommand, optimizeCommand, trainCommand, quantizeCommand, benchCommand];

/** The version of @razor/cli, from its package.json. */
export function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function programHelp(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return [
    'razor: inspect, run and compress ONNX models',
    '',
    'Usage: razor <command> [options]',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`),
    '',
    'Options:',
    '  -h, --help     show help (also: razor <command> --help)',
    '  -v, --version  print the version',
    '  --debug        print the stack trace of unexpected errors',
    '',
    'Example:',
    '  razor export resnet20 --out resnet20.onnx && razor optimize resnet20.onnx --out resnet20.opt.onnx && razor inspect resnet20.opt.onnx',
    '',
  ].join('\n');
}

/**
 * Runs the `razor` program on `argv` (the arguments after the program name) and resolves
 * to its exit code: 0 on success, 1 on an error, 2 on a usage error. Never throws; every
 * error is one line on stderr (`razor: <message> [RAZOR_CODE]`).
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const debug = argv.includes('--debug');
  const rest = argv.filter((argument) => argument !== '--debug');
  try {
    const [first, ...commandArguments] = rest;
    if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
      const topic = first === 'help' ? commandArguments[0] : undefined;
      const command = topic === undefined ? undefined : commands.find((entry) => entry.name === topic);
      if (topic !== undefined && command === undefined) throw new UsageError(`unknown command '${topic}'`);
      // Bare `razor` is a usage error: help goes to stderr and the exit code is 2.
      (first === undefined ? io.stderr : io.stdout).write(command ? command.help : programHelp());
      return first === undefined ? 2 : 0;
    }
    if (first === '--version' || first === '-v') {
      io.stdout.write(`${cliVersion()}\n`);
      return 0;
    }
    if (first.startsWith('-')) throw new UsageError(`unknown option '${first}' before the command`);
    const command = commands.find((entry) => entry.name === first);
    if (!command) {
      throw new UsageError(`unknown command '${first}'; commands: ${commands.map((entry) => entry.name).join(', ')}`);
    }
    return await command.run(commandArguments, io);
  } catch (error) {
    return reportError(error, io, debug);
  }
}

/**
 * Prints an error as one line on stderr and returns the exit code: 2 for a UsageError
 * (with the --help to read), 1 for a RazorError (`razor: <message> [RAZOR_CODE]`) and
 * for anything unexpected (a short line and a hint to rerun with --debug; with `debug`,
 * the stack trace follows).
 */
export function reportError(error: unknown, io: CliIo, debug = false): number {
  if (error instanceof UsageError) {
    const help = error.command ? `razor ${error.command} --help` : 'razor --help';
    io.stderr.write(`razor: ${oneLine(error.message)} (see '${help}')\n`);
    return 2;
  }
  if (RazorError.isInstance(error)) {
    io.stderr.write(`razor: ${oneLine(error.message)} [${error.code}]\n`);
    if (debug && error.stack) io.stderr.write(`${error.stack}\n`);
    return 1;
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  if (debug) {
    io.stderr.write(`razor: unexpected error: ${oneLine(message)}\n${error instanceof Error ? (error.stack ?? '') : ''}\n`);
  } else {
    io.stderr.write(`razor: unexpected error: ${oneLine(message)} (rerun with --debug for the stack trace)\n`);
  }
  return 1;
}
