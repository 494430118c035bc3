import { byteSlices } from '../../src/fsutil';

describe('byteSlices', () => {
  it('cuts a typed array (with an offset into its buffer) into byte views that cover it exactly once', () => {
    const whole = new Float32Array(10).map((_, i) => i);
    const view = whole.subarray(3, 8); // 20 bytes from byte 12
    const parts = [...byteSlices(view, 8)];
    expect(parts.map((p) => p.length)).toEqual([8, 8, 4]);
    const joined = Buffer.concat(parts);
    expect([...new Float32Array(joined.buffer, joined.byteOffset, 5)]).toEqual([3, 4, 5, 6, 7]);
  });

  it('handles arrays longer than any one Uint8Array may be (over 4 GiB: a 500k-row raw segment)', () => {
    // Calloc'd and never touched: no page of it is resident. One view over it all would throw RangeError.
    const huge = new Float32Array(2 ** 30 + 16);
    let count = 0;
    let bytes = 0;
    let last = 0;
    for (const part of byteSlices(huge, 64 * 1024 * 1024)) {
      count++;
      bytes += part.length;
      last = part.length;
    }
    expect(bytes).toBe(huge.byteLength);
    expect(count).toBe(65);
    expect(last).toBe(64);
  });
});
