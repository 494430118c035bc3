import path from 'node:path';
import { isItemSource, sameModel, thumbnailPath } from '@lookalike/contracts';

describe('sameModel', () => {
  const model = { id: 'm', sha256: 'a'.repeat(64), dimension: 8 };
  it('needs id, sha256 and dimension to agree', () => {
    expect(sameModel(model, { ...model })).toBe(true);
    expect(sameModel(model, { ...model, id: 'other' })).toBe(false);
    expect(sameModel(model, { ...model, sha256: 'b'.repeat(64) })).toBe(false);
    expect(sameModel(model, { ...model, dimension: 9 })).toBe(false);
  });
});

describe('isItemSource', () => {
  it('accepts exactly one well-formed reference', () => {
    expect(isItemSource({ imageUrl: 'https://shop.example.com/1.jpg' })).toBe(true);
    expect(isItemSource({ imagePath: 'images/1.jpg' })).toBe(true);
    expect(isItemSource({ blob: 'f'.repeat(64) })).toBe(true);
  });
  it('refuses anything else', () => {
    expect(isItemSource(null)).toBe(false);
    expect(isItemSource('url:https://x')).toBe(false);
    expect(isItemSource({})).toBe(false);
    expect(isItemSource({ imageUrl: '' })).toBe(false);
    expect(isItemSource({ imageUrl: 'x'.repeat(2049) })).toBe(false);
    expect(isItemSource({ blob: 'not-a-hash' })).toBe(false);
    expect(isItemSource({ imageUrl: 'https://a', imagePath: 'b' })).toBe(false);
  });
});

describe('thumbnailPath', () => {
  it('is <dataDir>/thumbnails/<id>.webp', () => {
    expect(thumbnailPath('/data', 'sku-1')).toBe(path.join('/data', 'thumbnails', 'sku-1.webp'));
  });
});
