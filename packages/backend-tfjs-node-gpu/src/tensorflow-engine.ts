import { ErrorCodes, RazorError, errorMessage, type Backend } from '@razor/core';
import { createTfjsBackend } from '@razor/backend-tfjs';
import { createRequire } from 'node:module';

/** What loading TensorFlow's native engine found. */
export interface TensorflowEngineInfo {
  /** The tfjs engine name it registered: 'tensorflow'. */
  engine: 'tensorflow';
  /** tfjs-node-gpu's version and the libtensorflow it links. */
  versions: { tfjsNode: string; tensorflow: string };
  /** Whether TensorFlow placed its kernels on a CUDA device. */
  usingGpu: boolean;
  /** The GPUs TensorFlow lists (from CUDA_VISIBLE_DEVICES and nvidia-smi where available). */
  gpus: string[];
}

/** The set-up the native library needs, for error messages and the README. */
export const GPU_SETUP =
  "@tensorflow/tfjs-node-gpu 4.22 links libtensorflow 2.9.1 built for CUDA 11.2 and cuDNN 8.1 on Linux x86-64. Its install script downloads that library and the addon from storage.googleapis.com, which a workspace install never runs; where that host is reachable and the CUDA 11.2 runtime and cuDNN 8.1 are on LD_LIBRARY_PATH, run 'node node_modules/@tensorflow/tfjs-node-gpu/scripts/install.js gpu download' in the package folder (or allow the build in pnpm-workspace.yaml and run 'pnpm rebuild @tensorflow/tfjs-node-gpu')";

const require = createRequire(import.meta.url);
let loaded: Promise<TensorflowEngineInfo> | undefined;

interface NodeBackendShape {
  isUsingGpuDevice?: boolean;
}

/** GPU names from nvidia-smi, when it is installed. */
async function listGpus(): Promise<string[]> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], { timeout: 10_000 }, (error, stdout) => {
      resolve(error ? [] : stdout.split('\n').map((line) => line.trim()).filter((line) => line !== ''));
    });
  });
}

/**
 * Loads @tensorflow/tfjs-node-gpu, which registers tfjs's 'tensorflow' engine (TensorFlow's C
 * library, CUDA kernels where a GPU is set up), and reports what it found. Fails with
 * RAZOR_BACKEND_UNAVAILABLE, saying why and what to install, when the native library does not load.
 */
export function loadTensorflowEngine(): Promise<TensorflowEngineInfo> {
  loaded ??= (async () => {
    let tfnode: { version: Record<string, string>; setBackend(name: string): Promise<boolean>; backend(): unknown; ready(): Promise<void> };
    try {
      tfnode = require('@tensorflow/tfjs-node-gpu');
    } catch (error) {
      loaded = undefined;
      throw new RazorError(ErrorCodes.BACKEND_UNAVAILABLE, `TensorFlow's native library for tfjs-node-gpu did not load (${errorMessage(error).split('\n')[0]}). ${GPU_SETUP}`, {
        cause: error,
      });
    }
    await tfnode.setBackend('tensorflow');
    await tfnode.ready();
    const backend = tfnode.backend() as NodeBackendShape;
    return {
      engine: 'tensorflow',
      versions: { tfjsNode: tfnode.version['tfjs-node'] ?? 'unknown', tensorflow: tfnode.version.tensorflow ?? 'unknown' },
      usingGpu: backend.isUsingGpuDevice === true,
      gpus: await listGpus(),
    };
  })();
  return loaded;
}

/** The tfjs backend on TensorFlow's native engine; call `loadTensorflowEngine` first (or use `init`). */
export function createTfjsNodeGpuBackend(options: { name?: string } = {}): Backend {
  const inner = createTfjsBackend({ engine: 'tensorflow', name: options.name ?? 'tfjs-node-gpu' });
  return {
    ...inner,
    async init(): Promise<void> {
      await loadTensorflowEngine();
      await inner.init?.();
    },
    async createSession(model, sessionOptions) {
      await loadTensorflowEngine();
      return inner.createSession(model, sessionOptions);
    },
    async capabilities() {
      const info = await loadTensorflowEngine();
      const base = await inner.capabilities!();
      return {
        executionProviders: base.executionProviders,
        engine: `TensorFlow ${info.versions.tensorflow} via tfjs-node-gpu ${info.versions.tfjsNode} (${info.usingGpu ? `GPU: ${info.gpus.join('; ') || 'CUDA device'}` : 'no GPU in use: CPU kernels'})`,
      };
    },
  };
}
