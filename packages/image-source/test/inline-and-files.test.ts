import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { detectImageFormat, ImageSource, ImageSourceError, type ImageRef } from '../src';
import { samplePhoto, sharedDir, TINY_PNG } from './helpers';

const LIMITS = { maxBytes: 100_000, timeoutMs: 1_000, maxRedirects: 0 };

async function expectCode(
  promise: Promise<unknown>,
  code: string,
  permanent = true,
): Promise<ImageSourceError> {
  const err = await promise.then(
    () => {
      throw new Error(`expected ${code}, but the load succeeded`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ImageSourceError);
  expect((err as ImageSourceError).code).toBe(code);
  expect((err as ImageSourceError).permanent).toBe(permanent);
  return err as ImageSourceError;
}

function ascii(text: string): number[] {
  return [...Buffer.from(text, 'latin1')];
}

describe('detectImageFormat', () => {
  const ftyp = (major: string, ...compatible: string[]) => {
    const box = Buffer.from([
      0,
      0,
      0,
      16 + 4 * compatible.length,
      ...ascii('ftyp'),
      ...ascii(major),
      0,
      0,
      0,
      0,
    ]);
    return Buffer.concat([box, ...compatible.map((brand) => Buffer.from(brand, 'latin1'))]);
  };
  const bmp = Buffer.alloc(54);
  bmp.write('BM', 0, 'latin1');
  bmp.writeUInt32LE(40, 14);

  it.each([
    ['jpeg', readFileSync(samplePhoto)],
    ['png', TINY_PNG],
    ['gif', Buffer.from('GIF89a\x01\x00\x01\x00', 'latin1')],
    ['webp', Buffer.from([...ascii('RIFF'), 1, 2, 3, 4, ...ascii('WEBPVP8 ')])],
    ['avif', ftyp('avif', 'mif1', 'miaf')],
    ['avif', ftyp('mif1', 'miaf', 'avif')],
    ['heif', ftyp('heic', 'mif1')],
    ['tiff', Buffer.from([0x49, 0x49, 0x2a, 0x00, 8, 0, 0, 0])],
    ['tiff', Buffer.from([0x4d, 0x4d, 0x00, 0x2a, 0, 0, 0, 8])],
    ['bmp', bmp],
  ])('recognises %s', (format, bytes) => {
    expect(detectImageFormat(bytes)).toBe(format);
  });

  it.each([
    ['empty', Buffer.alloc(0)],
    ['html', Buffer.from('<!doctype html><html></html>')],
    ['svg', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>')],
    ['json', Buffer.from('{"a":1}')],
    ['text starting with BM', Buffer.from('BMW catalogue export, version 2 of the file')],
    ['mp4', ftyp('isom', 'iso2', 'mp41')],
    ['truncated jpeg', Buffer.from([0xff, 0xd8])],
    ['riff wave', Buffer.from([...ascii('RIFF'), 1, 2, 3, 4, ...ascii('WAVEfmt ')])],
  ])('does not take %s for an image', (_name, bytes) => {
    expect(detectImageFormat(bytes)).toBeNull();
  });
});

describe('imageBase64', () => {
  const src = new ImageSource(LIMITS);
  const b64 = TINY_PNG.toString('base64');

  it('decodes plain, line-wrapped, URL-safe and unpadded base64', async () => {
    expect((await src.load({ imageBase64: b64 })).equals(TINY_PNG)).toBe(true);
    const wrapped = b64.replace(/(.{20})/g, '$1\r\n');
    expect((await src.load({ imageBase64: wrapped })).equals(TINY_PNG)).toBe(true);
    const photo = readFileSync(samplePhoto);
    const urlSafe = photo.toString('base64url');
    expect(urlSafe).toMatch(/[-_]/);
    expect((await src.load({ imageBase64: urlSafe })).equals(photo)).toBe(true);
    expect((await src.load({ imageBase64: b64.replace(/=+$/, '') })).equals(TINY_PNG)).toBe(true);
  });

  it('decodes data URLs with an image media type', async () => {
    const bytes = await src.load({ imageBase64: `data:image/png;base64,${b64}` });
    expect(bytes.equals(TINY_PNG)).toBe(true);
    expect(
      (await src.load({ imageBase64: `DATA:Image/PNG;name=a.png;BASE64,${b64}` })).equals(TINY_PNG),
    ).toBe(true);
  });

  it('refuses data URLs that are not base64 images', async () => {
    await expectCode(src.load({ imageBase64: `data:text/html;base64,${b64}` }), 'SOURCE_BAD_CONTENT_TYPE');
    await expectCode(src.load({ imageBase64: `data:;base64,${b64}` }), 'SOURCE_BAD_CONTENT_TYPE');
    await expectCode(src.load({ imageBase64: 'data:image/png,%89PNG' }), 'SOURCE_BAD_BASE64');
    await expectCode(src.load({ imageBase64: `data:image/png;base64${b64}` }), 'SOURCE_BAD_BASE64');
  });

  it.each([
    ['empty', ''],
    ['only padding', '===='],
    ['invalid characters', `${b64.slice(0, 8)}*!${b64.slice(10)}`],
    ['mixed alphabets', `${b64.slice(0, 8)}-+${b64.slice(10)}`],
    ['bad padding', `${b64}=`],
    ['padding in the middle', `${b64.slice(0, 8)}==${b64.slice(8)}`],
    ['length 1 mod 4', 'iVBORw0KG'],
  ])('refuses %s', async (_name, imageBase64) => {
    await expectCode(src.load({ imageBase64 }), 'SOURCE_BAD_BASE64');
  });

  it('checks the size before decoding', async () => {
    const small = new ImageSource({ ...LIMITS, maxBytes: 100 });
    const err = await expectCode(
      small.load({ imageBase64: Buffer.alloc(101).toString('base64') }),
      'SOURCE_TOO_LARGE',
    );
    expect(err.details).toMatchObject({ size: 101, maxBytes: 100 });
    await expectCode(small.load({ imageBase64: 'A'.repeat(10_000_000) }), 'SOURCE_TOO_LARGE');
    await expect(small.load({ imageBase64: TINY_PNG.toString('base64') })).resolves.toHaveLength(
      TINY_PNG.length,
    );
  });

  it('refuses decoded bytes that are not an image', async () => {
    await expectCode(
      src.load({ imageBase64: Buffer.from('<html></html>').toString('base64') }),
      'SOURCE_NOT_IMAGE',
    );
  });
});

describe('imagePath', () => {
  let tmp: string;
  let root: string;
  let outside: string;
  const source = (options: { catalogueRoot?: string; maxBytes?: number } = {}) =>
    new ImageSource({ ...LIMITS, catalogueRoot: root, ...options });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'lookalike-image-source-'));
    root = path.join(tmp, 'catalogue');
    outside = path.join(tmp, 'outside');
    await mkdir(path.join(root, 'nested/deeper'), { recursive: true });
    await mkdir(outside);
    await writeFile(path.join(root, 'tiny.png'), TINY_PNG);
    await writeFile(path.join(root, 'nested/deeper/tiny copy.png'), TINY_PNG);
    await writeFile(path.join(root, 'notes.txt'), 'not an image');
    await writeFile(path.join(root, 'empty.png'), '');
    await writeFile(path.join(root, 'big.png'), Buffer.concat([TINY_PNG, Buffer.alloc(200_000)]));
    await writeFile(path.join(outside, 'secret.png'), TINY_PNG);
    await symlink(path.join(outside, 'secret.png'), path.join(root, 'escape.png'));
    await symlink(outside, path.join(root, 'escape-dir'));
    await symlink(path.join(root, 'tiny.png'), path.join(root, 'alias.png'));
    await symlink('loop-b', path.join(root, 'loop-a'));
    await symlink('loop-a', path.join(root, 'loop-b'));
    await symlink(root, path.join(tmp, 'root-link'));
  });
  afterAll(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('reads files relative to the root, through links that stay inside it', async () => {
    const src = source();
    expect((await src.load({ imagePath: 'tiny.png' })).equals(TINY_PNG)).toBe(true);
    expect((await src.load({ imagePath: 'nested/deeper/tiny copy.png' })).equals(TINY_PNG)).toBe(true);
    expect((await src.load({ imagePath: './nested/../tiny.png' })).equals(TINY_PNG)).toBe(true);
    expect((await src.load({ imagePath: 'alias.png' })).equals(TINY_PNG)).toBe(true);
    const viaLinkedRoot = source({ catalogueRoot: path.join(tmp, 'root-link') });
    expect((await viaLinkedRoot.load({ imagePath: 'tiny.png' })).equals(TINY_PNG)).toBe(true);
  });

  it('reads the shared sample photos in place', async () => {
    const images = path.join(sharedDir, 'data/fashion-sample/images');
    if (!existsSync(images)) return;
    const src = new ImageSource({ ...LIMITS, catalogueRoot: images });
    expect(
      (await src.load({ imagePath: '10000.jpg' })).equals(readFileSync(path.join(images, '10000.jpg'))),
    ).toBe(true);
  });

  it.each([
    ['../outside/secret.png'],
    ['nested/../../outside/secret.png'],
    ['..'],
    ['.'],
    ['/etc/hostname'],
    ['C:\\Windows\\win.ini'],
    ['\\\\server\\share\\a.png'],
  ])('refuses the path %p as outside the root', async (imagePath) => {
    await expectCode(source().load({ imagePath }), 'SOURCE_PATH_OUTSIDE_ROOT');
  });

  it('refuses absolute paths even when they point inside the root', async () => {
    await expectCode(source().load({ imagePath: path.join(root, 'tiny.png') }), 'SOURCE_PATH_OUTSIDE_ROOT');
  });

  it('refuses symbolic links that lead outside the root', async () => {
    await expectCode(source().load({ imagePath: 'escape.png' }), 'SOURCE_PATH_OUTSIDE_ROOT');
    await expectCode(source().load({ imagePath: 'escape-dir/secret.png' }), 'SOURCE_PATH_OUTSIDE_ROOT');
    await expectCode(source().load({ imagePath: 'loop-a' }), 'SOURCE_PATH_OUTSIDE_ROOT');
  });

  it('refuses malformed paths', async () => {
    await expectCode(source().load({ imagePath: '' }), 'SOURCE_BAD_PATH');
    await expectCode(source().load({ imagePath: 'tiny.png\0.jpg' }), 'SOURCE_BAD_PATH');
  });

  it('reports missing files, directories and special files as not found', async () => {
    await expectCode(source().load({ imagePath: 'missing.png' }), 'SOURCE_NOT_FOUND');
    await expectCode(source().load({ imagePath: 'tiny.png/child.png' }), 'SOURCE_NOT_FOUND');
    await expectCode(source().load({ imagePath: 'nested' }), 'SOURCE_NOT_FOUND');
    const fifo = path.join(root, 'pipe.png');
    try {
      execFileSync('mkfifo', [fifo]);
    } catch {
      return; // no mkfifo here; the O_NONBLOCK open is then untested
    }
    const started = Date.now();
    await expectCode(source().load({ imagePath: 'pipe.png' }), 'SOURCE_NOT_FOUND');
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('checks the size before reading', async () => {
    const err = await expectCode(source().load({ imagePath: 'big.png' }), 'SOURCE_TOO_LARGE');
    expect(err.details).toMatchObject({ maxBytes: LIMITS.maxBytes });
  });

  it('refuses files that are not images', async () => {
    await expectCode(source().load({ imagePath: 'notes.txt' }), 'SOURCE_NOT_IMAGE');
    await expectCode(source().load({ imagePath: 'empty.png' }), 'SOURCE_NOT_IMAGE');
  });

  it('needs a catalogue root that exists', async () => {
    await expectCode(new ImageSource(LIMITS).load({ imagePath: 'tiny.png' }), 'SOURCE_NO_CATALOGUE_ROOT');
    await expectCode(
      source({ catalogueRoot: path.join(tmp, 'no-such-dir') }).load({ imagePath: 'tiny.png' }),
      'SOURCE_NO_CATALOGUE_ROOT',
    );
  });
});

describe('ImageSource', () => {
  it.each([
    ['no key', {}],
    ['two keys', { imageUrl: 'http://example.com/a.jpg', imagePath: 'a.jpg' }],
    ['a non-string value', { imagePath: 42 }],
    ['null', null],
  ])('refuses a ref with %s', async (_name, ref) => {
    await expectCode(new ImageSource(LIMITS).load(ref as unknown as ImageRef), 'SOURCE_BAD_REF');
  });

  it('refuses impossible options', () => {
    expect(() => new ImageSource({ ...LIMITS, maxBytes: 0 })).toThrow(
      expect.objectContaining({ code: 'SOURCE_BAD_OPTIONS' }),
    );
    expect(() => new ImageSource({ ...LIMITS, maxRedirects: -1 })).toThrow(
      expect.objectContaining({ code: 'SOURCE_BAD_OPTIONS' }),
    );
    expect(() => new ImageSource({ ...LIMITS, allowedHosts: ['10.0.0.0/40'] })).toThrow(
      expect.objectContaining({ code: 'SOURCE_BAD_OPTIONS' }),
    );
  });

  it('does nothing once the caller has aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('gone'));
    await expect(new ImageSource(LIMITS).load({ imageBase64: 'AAAA' }, controller.signal)).rejects.toThrow(
      'gone',
    );
  });
});
