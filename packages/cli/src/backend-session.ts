import '@razor/backend-onnxruntime/register';
import { resolveBackend, type BackendSession, type Graph } from '@razor/core';

/** The backend the CLI uses when `--backend` is not given. */
export const DEFAULT_BACKEND = 'onnxruntime';

/** A compiled session and how to free it. */
export interface OpenSession {
  session: BackendSession;
  backendName: string;
  release(): Promise<void>;
}

/**
 * Resolves a registered backend by name (default onnxruntime) and compiles `graph` on it.
 * An unknown or broken backend fails with RAZOR_BACKEND_UNAVAILABLE naming the ones registered.
 */
export async function openBackendSession(graph: Graph, backendName: string | undefined, threads: number | undefined): Promise<OpenSession> {
  const backend = await resolveBackend(backendName ?? DEFAULT_BACKEND);
  const session = await backend.createSession(graph, threads === undefined ? {} : { threads });
  return { session, backendName: backend.name, release: () => session.release() };
}
