/**
 * Atomic file replacement that survives its writer being killed: the contents go to a temporary
 * file in the target's directory (`.<name>.<pid>.<uuid>.tmp`, created exclusively), which is
 * fsynced and renamed over the target, then the directory is fsynced. A reader sees the old file
 * or the new one, never a part. A writer killed before its rename leaves its temporary file; the
 * next write into the same directory removes those whose writer is gone, whatever their target
 * (checkpoints named per epoch would otherwise never meet their orphans again).
 */
import { randomUUID } from 'node:crypto';
import { open, readdir, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** Replaces `path` by what `write` writes into the (empty) file it is given, atomically. */
export async function writeFileAtomically(path: string, write: (file: FileHandle) => Promise<void>): Promise<void> {
  const target = resolve(path);
  await removeStaleTemporaries(target);
  const temporary = join(dirname(target), `.${basename(target)}.${process.pid}.${randomUUID()}.tmp`);
  try {
    const file = await open(temporary, 'wx');
    try {
      await write(file);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temporary, target);
  } catch (cause) {
    await rm(temporary, { force: true });
    throw naming(target, cause);
  }
  const directory = await open(dirname(target), 'r');
  try {
    await directory.sync(); // the rename itself survives a crash
  } finally {
    await directory.close();
  }
}

/**
 * The error with the target in its message: Node's names the temporary file, which the caller
 * never chose (a missing directory read as "open '/dir/.ck.safetensors.4242.<uuid>.tmp'").
 * The code (ENOENT, ENOSPC, ...) and the original error stay.
 */
function naming(target: string, cause: unknown): unknown {
  if (!(cause instanceof Error) || !('code' in cause)) return cause;
  // "ENOENT: no such file or directory, open '<temporary>'": the reason, without the temporary's name
  const reason = cause.message.replace(/, \w+ '[^']*'$/, '');
  const error = new Error(`cannot write '${target}': ${reason}`, { cause });
  return Object.assign(error, { code: cause.code });
}

/**
 * Removes the temporary files in `target`'s directory whose writer died (SIGKILL, power loss)
 * before it could rename or remove them. The name carries the writer's pid; a file is removed only when no
 * process has that pid (`kill(pid, 0)` fails with ESRCH). A live writer keeps its file: another
 * process (EPERM is alive too) or a concurrent save in this one. A reused pid keeps an orphan
 * until that process ends, never the reverse. Pids are per machine: when machines share the
 * directory, a save may remove another machine's temporary file, which makes that save fail
 * (its rename finds nothing) but never damages the target.
 */
async function removeStaleTemporaries(target: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch {
    return; // the write itself reports a missing or unreadable directory
  }
  const stale = names.filter((name) => {
    const pid = writerOf(name);
    return pid !== null && !isAlive(pid);
  });
  await Promise.all(stale.map((name) => rm(join(dirname(target), name), { force: true })));
}

/** `.<target>.<pid>.<uuid>.tmp`: only names a write makes (the UUID keeps others' files out). */
const TEMPORARY_NAME = /^\..+\.(\d{1,10})\.[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.tmp$/;

/** The writer's pid in a temporary file's name, or null if it is not one. */
function writerOf(name: string): number | null {
  const match = TEMPORARY_NAME.exec(name);
  return match === null ? null : Number(match[1]);
}

function isAlive(pid: number): boolean {
  if (pid === process.pid || pid <= 0) return true; // kill(0, 0) would ask about our process group
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH'; // EPERM: alive, not ours; anything else: keep
  }
}
