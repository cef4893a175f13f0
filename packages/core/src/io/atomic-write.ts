import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { ErrorCodes, errorMessage, fail } from '../errors.js';

/**
 * Writes `chunks` back to back to a temporary sibling of `path`, flushes it, then renames it
 * over `path`: a reader sees the old file or the whole new one, never a partial write, and a
 * failure leaves no temporary file behind. `what` names the file in the error
 * (RAZOR_WRITE_FAILED).
 */
export async function writeFileAtomically(path: string, chunks: Uint8Array | readonly Uint8Array[], what = 'the file'): Promise<void> {
  const parts = chunks instanceof Uint8Array ? [chunks] : chunks;
  const temporary = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(temporary, 'w');
    try {
      for (const part of parts) {
        let written = 0;
        while (written < part.byteLength) written += (await handle.write(part, written)).bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    fail(ErrorCodes.WRITE_FAILED, `${path}: cannot write ${what} (${errorMessage(error)})`, error);
  }
}
