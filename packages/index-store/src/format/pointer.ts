import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { fsyncDir, readFileIfExists, writeFileSynced } from '../fsutil';
import { POINTER_FILE, pointerPath, tempName } from './layout';

/** CURRENT: the one pointer to the published snapshot version, replaced atomically. */
export interface Pointer {
  version: number;
  manifestSha256: string;
}

const SHA256 = /^[0-9a-f]{64}$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses CURRENT; throws an Error with a reason a person can act on. */
export function decodePointer(text: string): Pointer {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`pointer ${POINTER_FILE} is not JSON`);
  }
  if (
    !isRecord(value) ||
    typeof value.version !== 'number' ||
    !Number.isSafeInteger(value.version) ||
    value.version < 1
  )
    throw new Error(`pointer ${POINTER_FILE} has no valid version`);
  if (typeof value.manifestSha256 !== 'string' || !SHA256.test(value.manifestSha256))
    throw new Error(`pointer ${POINTER_FILE} has no valid manifestSha256`);
  return { version: value.version, manifestSha256: value.manifestSha256 };
}

export function encodePointer(pointer: Pointer): string {
  return `${JSON.stringify({ version: pointer.version, manifestSha256: pointer.manifestSha256 })}\n`;
}

/** CURRENT as it is on disk (readers compare the text to skip a pointer already acted on); null: none. */
export async function readPointerText(dataDir: string): Promise<string | null> {
  return (await readFileIfExists(pointerPath(dataDir)))?.toString('utf8') ?? null;
}

/** The pointer, or null before the first publish; throws an Error with the reason when it is invalid. */
export async function readPointer(dataDir: string): Promise<Pointer | null> {
  const text = await readPointerText(dataDir);
  return text === null ? null : decodePointer(text);
}

/**
 * First half of a pointer switch: the new pointer, written and fsynced to a temp file beside CURRENT
 * (`afterWrite` runs once it is written: a crash-test step). Returns the temp file for installPointer.
 */
export async function stagePointer(
  dataDir: string,
  pointer: Pointer,
  afterWrite?: () => Promise<void>,
): Promise<string> {
  const temp = path.join(dataDir, tempName('pointer'));
  try {
    await writeFileSynced(temp, [Buffer.from(encodePointer(pointer))], afterWrite);
  } catch (err) {
    // A failed write (ENOSPC, EIO) must not leave a partial temp file beside CURRENT: the sweep of
    // abandoned temp files only takes those of processes that have exited, and this one lives on.
    await fsp.rm(temp, { force: true });
    throw err;
  }
  return temp;
}

/** Second half: renames the staged pointer over CURRENT (atomic); the caller fsyncs the data dir. */
export async function installPointer(dataDir: string, staged: string): Promise<void> {
  await fsp.rename(staged, pointerPath(dataDir));
}

/**
 * Points CURRENT at `pointer` the way a writer commits (temp file, fsync, rename, fsync the directory),
 * without a writer's checks: for tools that move between versions already published (the reload bench).
 */
export async function switchPointer(dataDir: string, pointer: Pointer): Promise<void> {
  const staged = await stagePointer(dataDir, pointer);
  try {
    await installPointer(dataDir, staged);
  } catch (err) {
    await fsp.rm(staged, { force: true });
    throw err;
  }
  await fsyncDir(dataDir);
}
