import { describeModel, listModels } from '@razor/ops';
import { parseCommandArguments } from '../arguments.js';
import type { CliIo } from '../cli-io.js';
import type { Command } from '../command.js';
import { renderTable } from '../table.js';
import { UsageError } from '../usage-error.js';

const help = `Usage: razor zoo [--json]

Lists the models of the @razor/ops model zoo. Build one as ONNX with 'razor export'.

Options:
  --json      print a JSON array of { name, description }
  -h, --help  show this help

Example:
  razor zoo
  razor export resnet20 --out resnet20.onnx
`;

async function run(argv: readonly string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseCommandArguments('zoo', argv, { json: { type: 'boolean' } });
  if (values.help) {
    io.stdout.write(help);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'`, 'zoo');
  const models = listModels().map((name) => ({ name, description: describeModel(name) }));
  if (values.json) {
    io.stdout.write(`${JSON.stringify(models, null, 2)}\n`);
    return 0;
  }
  io.stdout.write(`${renderTable([{ title: 'model' }, { title: 'description' }], models.map((model) => [model.name, model.description]))}\n`);
  return 0;
}

/** `razor zoo`: the zoo's model names and descriptions. */
export const zooCommand: Command = { name: 'zoo', summary: 'list the model zoo', help, run };
