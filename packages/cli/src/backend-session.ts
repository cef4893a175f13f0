import { resolveBackend, type Backend, type BackendSession, type Graph } from '@razor/core';

/** The backend the CLI uses when `--backend` is not given. */
export const DEFAULT_BACKEND = 'onnxruntime';

/** A compiled session and how to free it. */
export interface OpenSession {
  session: BackendSession;
  backendName: string;
  release(): Promise<void>;
}

/**
 * The backend registered under `name` (default onnxruntime). The onnxruntime backend
 * registers itself here, on first use, so importing @razor/cli has no side effects.
 * An unknown or broken backend fails with RAZOR_BACKEND_UNAVAILABLE naming the ones registered.
 */
export async function cliBackend(name: string | undefined): Promise<Backend> {
  await import('@razor/backend-onnxruntime/register');
  return resolveBackend(name ?? DEFAULT_BACKEND);
}

/** Resolves the backend (see {@link cliBackend}) and compiles `graph` on it. */
export async function openBackendSession(graph: Graph, backendName: string | undefined, threads: number | undefined): Promise<OpenSession> {
  const backend = await cliBackend(backendName);
  const session = await backend.createSession(graph, threads === undefined ? {} : { threads });
  return { session, backendName: backend.name, release: () => session.release() };
}
