#!/usr/bin/env node
// Packs each published package with `pnpm pack` and installs the tarballs into empty
// projects with npm, each with only its declared dependencies, then runs a real smoke
// script there. Proves the packages work outside the workspace (no source condition,
// no hoisted devDependencies).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const here = dirname(fileURLToPath(import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'razor-pack-'));
const env = { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip', npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' };

function run(command, args, cwd) {
  return execFileSync(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
}

const tarballs = {};
for (const name of ['core', 'ops', 'backend-onnxruntime', 'backend-tfjs', 'quant', 'cli']) {
  run('pnpm', ['pack', '--pack-destination', work], join(root, 'packages', name));
}
for (const file of readdirSync(work)) {
  const match = /^razor-(.+?)-\d+\.\d+\.\d+.*\.tgz$/.exec(file);
  if (match) tarballs[match[1]] = join(work, file);
}

// Each case: the tarballs to install (the package and the workspace packages it declares) and a smoke script.
const cases = [
  { name: 'core', install: ['core'], script: 'smoke-core.mjs' },
  { name: 'ops', install: ['core', 'ops'], script: 'smoke-ops.mjs' },
  { name: 'backend-onnxruntime', install: ['core', 'backend-onnxruntime'], script: 'smoke-backend-onnxruntime.mjs' },
  { name: 'backend-tfjs', install: ['core', 'backend-tfjs'], script: 'smoke-backend-tfjs.mjs' },
  { name: 'quant', install: ['core', 'backend-onnxruntime', 'quant'], script: 'smoke-quant.mjs' },
  { name: 'cli', install: ['core', 'ops', 'backend-onnxruntime', 'backend-tfjs', 'quant', 'cli'], script: 'smoke-cli.mjs' },
];

let failed = 0;
for (const testCase of cases) {
  const project = join(work, `project-${testCase.name}`);
  run('mkdir', ['-p', project]);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: `smoke-${testCase.name}`, private: true, type: 'module' }));
  copyFileSync(join(here, testCase.script), join(project, testCase.script));
  try {
    run('npm', ['install', '--ignore-scripts', '--no-package-lock', ...testCase.install.map((name) => tarballs[name])], project);
    const output = run('node', [testCase.script], project);
    console.log(`ok   ${testCase.name}: ${output.trim().split('\n').join(' | ')}`);
  } catch (error) {
    failed++;
    console.error(`FAIL ${testCase.name}: ${error.stderr || error.message}`);
  }
}
rmSync(work, { recursive: true, force: true });
console.log(`pack-check: ${cases.length - failed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
