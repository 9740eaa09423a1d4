import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Claims `dir` for this process with a lock file holding our pid, so that two SigID processes never
 * open the same embedded database (PGlite would let them, and corrupt it). A lock left by a dead
 * process is taken over. Returns the release function.
 */
export function acquireDataDirLock(dir: string): () => void {
  const path = join(dir, 'sigid.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number(readFileSync(path, 'utf8'));
      if (owner === process.pid || (Number.isInteger(owner) && owner > 0 && isRunning(owner))) {
        throw new Error(
          `data directory ${dir} is in use by process ${owner}; stop it or set SIGID_DATA_DIR to another directory`,
        );
      }
      rmSync(path, { force: true });
    }
  }
  throw new Error(`could not lock data directory ${dir}`);
}
