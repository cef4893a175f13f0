import { registerBackend, resolveBackend, type Backend, type BackendSession, type Graph } from '@razor/core';

/** The backend the CLI uses when `--backend` is not given. */
export const DEFAULT_BACKEND = 'onnxruntime';

/** A compiled session and how to free it. */
export interface OpenSession {
  session: BackendSession;
  backendName: string;
  release(): Promise<void>;
}

/**
 * The backend registered under `name` (default onnxruntime; also 'tfjs' and 'tfjs-wasm', the
 * TensorFlow.js backend on its cpu and wasm engines). Backends register here, on first use, so
 * importing @razor/cli has no side effects. An unknown or broken backend fails with
 * RAZOR_BACKEND_UNAVAILABLE naming the ones registered.
 */
export async function cliBackend(name: string | undefined): Promise<Backend> {
  await import('@razor/backend-onnxruntime/register');
  if (name !== undefined && name.startsWith('tfjs')) {
    await import('@razor/backend-tfjs/register');
    const { createTfjsBackend } = await import('@razor/backend-tfjs');
    registerBackend('tfjs-wasm', () => createTfjsBackend({ engine: 'wasm', name: 'tfjs-wasm' }), 40);
  }
  return resolveBackend(name ?? DEFAULT_BACKEND);
}

/** Resolves the backend (see {@link cliBackend}) and compiles `graph` on it. */
export async function openBackendSession(graph: Graph, backendName: string | undefined, threads: number | undefined): Promise<OpenSession> {
  const backend = await cliBackend(backendName);
  const session = await backend.createSession(graph, threads === undefined ? {} : { threads });
  return { session, backendName: backend.name, release: () => session.release() };
}
