import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** One execution provider as onnxruntime-node's `listSupportedBackends()` reports it. */
export interface SupportedBackend {
  name: string;
  bundled: boolean;
}

/** Provider libraries onnxruntime-node downloads at install time instead of shipping them. */
const providerLibraries: Record<string, Partial<Record<NodeJS.Platform, string>>> = {
  cuda: { linux: 'libonnxruntime_providers_cuda.so', win32: 'onnxruntime_providers_cuda.dll' },
  tensorrt: { linux: 'libonnxruntime_providers_tensorrt.so', win32: 'onnxruntime_providers_tensorrt.dll' },
};

/** The folder holding onnxruntime-node's native binding for this platform. */
export function bindingDirectory(): string {
  const require = createRequire(import.meta.url);
  const entry = require.resolve('onnxruntime-node');
  return join(dirname(entry), '..', 'bin', 'napi-v6', process.platform, process.arch);
}

/**
 * The providers usable in this installation: the bundled ones, plus each unbundled one
 * whose provider library was installed next to the binding.
 */
export function usableProviders(supported: readonly SupportedBackend[], directory = bindingDirectory()): string[] {
  const usable: string[] = [];
  for (const backend of supported) {
    if (backend.bundled) {
      usable.push(backend.name);
      continue;
    }
    const library = providerLibraries[backend.name]?.[process.platform];
    if (library !== undefined && existsSync(join(directory, library))) usable.push(backend.name);
  }
  return usable;
}

/** What to tell a user who asked for `provider` in an installation that lacks it. */
export function installAdvice(provider: string, supported: readonly SupportedBackend[]): string {
  const known = supported.find((backend) => backend.name === provider);
  if (known === undefined) {
    return `onnxruntime-node on ${process.platform}/${process.arch} has no '${provider}' execution provider; available here: ${supported.map((backend) => backend.name).join(', ')}`;
  }
  if (provider === 'cuda' || provider === 'tensorrt') {
    return (
      `onnxruntime-node supports the '${provider}' execution provider on ${process.platform}/${process.arch}, but its provider ` +
      `libraries are not installed (they are downloaded at install time, not shipped in the npm package). Reinstall with ` +
      `ONNXRUNTIME_NODE_INSTALL=cuda12 (or ONNXRUNTIME_NODE_INSTALL_CUDA=v12) set, or run ` +
      `\`node node_modules/onnxruntime-node/script/install --onnxruntime-node-install=cuda12\`; CUDA 12 and cuDNN 9 ` +
      `must be installed on the machine. Looked in ${bindingDirectory()}`
    );
  }
  return `the '${provider}' execution provider of onnxruntime-node is not usable in this installation`;
}
