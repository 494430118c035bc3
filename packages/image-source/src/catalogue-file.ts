import { constants } from 'node:fs';
import { open, realpath } from 'node:fs/promises';
import path from 'node:path';
import { ImageSourceError } from './errors';

const MAX_PATH_LENGTH = 4096;
/** O_NONBLOCK keeps open() on a FIFO from hanging; fstat then refuses it as not a regular file. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** True when `candidate` is strictly below `root` (both absolute, normalised). */
function isInside(root: string, candidate: string): boolean {
  const relative = path.relative(root, candidate);
  return (
    relative !== '' &&
    relative !== '..' &&
    !relative.startsWith(`..${path.sep}`) &&
    !path.isAbsolute(relative)
  );
}

function outside(relativePath: string, why: string): ImageSourceError {
  return new ImageSourceError('SOURCE_PATH_OUTSIDE_ROOT', `Path ${relativePath} ${why}`, {
    details: { path: relativePath },
  });
}

function ioError(err: unknown, relativePath: string): ImageSourceError {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new ImageSourceError('SOURCE_NOT_FOUND', `No such file in the catalogue: ${relativePath}`, {
      details: { path: relativePath },
    });
  }
  if (code === 'ELOOP') return outside(relativePath, 'is a symbolic link loop');
  return new ImageSourceError('SOURCE_READ_ERROR', `Could not read ${relativePath}: ${code}`, {
    permanent: code === 'EACCES' || code === 'EPERM' || code === 'EISDIR',
    cause: err,
    details: { path: relativePath, code },
  });
}

/**
 * Reads a catalogue image by a path relative to the catalogue root. The path may not be absolute,
 * may not climb out with `..`, and may not leave the root through a symbolic link (checked on the
 * real path; the file is then opened by that real path with O_NOFOLLOW). Size is checked on the
 * opened file before anything is read.
 */
export async function readCatalogueFile(
  catalogueRoot: string | undefined,
  relativePath: string,
  maxBytes: number,
): Promise<Buffer> {
  if (catalogueRoot === undefined || catalogueRoot === '') {
    throw new ImageSourceError(
      'SOURCE_NO_CATALOGUE_ROOT',
      'imagePath given but no catalogue root is configured',
    );
  }
  if (relativePath === '' || relativePath.length > MAX_PATH_LENGTH || relativePath.includes('\0')) {
    throw new ImageSourceError('SOURCE_BAD_PATH', 'imagePath must be a non-empty path without NUL bytes', {
      details: { length: relativePath.length },
    });
  }
  if (path.posix.isAbsolute(relativePath) || path.win32.isAbsolute(relativePath)) {
    throw outside(relativePath, 'is absolute; imagePath is relative to the catalogue root');
  }
  let root: string;
  try {
    root = await realpath(catalogueRoot);
  } catch (err) {
    throw new ImageSourceError(
      'SOURCE_NO_CATALOGUE_ROOT',
      `Catalogue root ${catalogueRoot} is not accessible`,
      {
        cause: err,
        details: { catalogueRoot },
      },
    );
  }
  // Lexical check first, so an escaping path is refused without revealing whether its target exists.
  const lexical = path.resolve(root, relativePath);
  if (!isInside(root, lexical)) throw outside(relativePath, 'escapes the catalogue root');

  let real: string;
  try {
    real = await realpath(lexical);
  } catch (err) {
    throw ioError(err, relativePath);
  }
  if (!isInside(root, real)) throw outside(relativePath, 'links outside the catalogue root');

  let handle;
  try {
    handle = await open(real, OPEN_FLAGS);
  } catch (err) {
    throw ioError(err, relativePath);
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) {
      throw new ImageSourceError('SOURCE_NOT_FOUND', `Not a regular file: ${relativePath}`, {
        details: { path: relativePath },
      });
    }
    if (stats.size > maxBytes) {
      throw new ImageSourceError(
        'SOURCE_TOO_LARGE',
        `${relativePath} is ${stats.size} bytes, more than ${maxBytes}`,
        {
          details: { path: relativePath, size: stats.size, maxBytes },
        },
      );
    }
    // Read at most what stat promised; a file growing meanwhile cannot push past the cap.
    const buffer = Buffer.alloc(stats.size);
    let filled = 0;
    while (filled < buffer.length) {
      const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return filled === buffer.length ? buffer : buffer.subarray(0, filled);
  } catch (err) {
    if (err instanceof ImageSourceError) throw err;
    throw ioError(err, relativePath);
  } finally {
    await handle.close();
  }
}
