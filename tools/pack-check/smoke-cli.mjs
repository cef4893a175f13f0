// @razor/cli installed from tarballs: the razor command exports, inspects, optimizes and runs a model.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const razor = join('node_modules', '.bin', 'razor');
const dir = mkdtempSync(join(tmpdir(), 'razor-cli-smoke-'));
const model = join(dir, 'lenet5.onnx');
execFileSync(razor, ['export', 'lenet5', '--out', model], { encoding: 'utf8' });
const report = JSON.parse(execFileSync(razor, ['inspect', model, '--json', '--no-latency'], { encoding: 'utf8' }));
if (report.params !== 61706) throw new Error(`inspect reported ${report.params} parameters, expected 61706`);
const optimized = join(dir, 'lenet5.opt.onnx');
execFileSync(razor, ['optimize', model, '--out', optimized, '--runs', '2'], { encoding: 'utf8' });
const run = execFileSync(razor, ['run', optimized], { encoding: 'utf8' });
if (!/output/.test(run)) throw new Error(`unexpected run output: ${run}`);
console.log(`razor export/inspect/optimize/run: lenet5 ${report.params} params`);
