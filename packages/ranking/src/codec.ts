/**
 * A small container for attachments: magic (4 bytes), format version (u32 LE), JSON header length
 * (u32 LE), the JSON header, then typed-array sections, each 4-byte aligned, in the order the header's
 * `sections` lists them (name, type, length in elements). The snapshot verifies every attachment's
 * sha256, so this only guards against a wrong or newer format.
 */

export type SectionType = 'f32' | 'u8';
export type SectionArray = Float32Array | Uint8Array;

interface SectionHeader {
  name: string;
  type: SectionType;
  length: number;
}

export class RankingFormatError extends Error {}

const FORMAT_VERSION = 1;

function align4(n: number): number {
  return (n + 3) & ~3;
}

export function encodeContainer(
  magic: string,
  header: Record<string, unknown>,
  sections: Record<string, SectionArray>,
): Uint8Array {
  const list: SectionHeader[] = Object.entries(sections).map(([name, array]) => ({
    name,
    type: array instanceof Float32Array ? 'f32' : 'u8',
    length: array.length,
  }));
  const json = Buffer.from(JSON.stringify({ ...header, sections: list }), 'utf8');
  let size = align4(12 + json.length);
  for (const [, array] of Object.entries(sections)) size += align4(array.byteLength);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(Buffer.from(magic, 'latin1').subarray(0, 4), 0);
  view.setUint32(4, FORMAT_VERSION, true);
  view.setUint32(8, json.length, true);
  out.set(json, 12);
  let offset = align4(12 + json.length);
  for (const array of Object.values(sections)) {
    out.set(new Uint8Array(array.buffer, array.byteOffset, array.byteLength), offset);
    offset += align4(array.byteLength);
  }
  return out;
}

export function decodeContainer(
  magic: string,
  bytes: Uint8Array,
): { header: Record<string, unknown>; sections: Map<string, SectionArray> } {
  if (bytes.length < 12 || Buffer.from(bytes.subarray(0, 4)).toString('latin1') !== magic)
    throw new RankingFormatError(`not a ${magic} attachment`);
  // Copy into an aligned buffer of our own so Float32Array views are always possible.
  const own = new Uint8Array(bytes.length);
  own.set(bytes);
  const view = new DataView(own.buffer);
  const version = view.getUint32(4, true);
  if (version !== FORMAT_VERSION) throw new RankingFormatError(`${magic} format ${version} is not supported`);
  const jsonLength = view.getUint32(8, true);
  if (12 + jsonLength > own.length) throw new RankingFormatError(`${magic} header is truncated`);
  const header = JSON.parse(Buffer.from(own.subarray(12, 12 + jsonLength)).toString('utf8')) as Record<
    string,
    unknown
  >;
  const list = header.sections as SectionHeader[];
  if (!Array.isArray(list)) throw new RankingFormatError(`${magic} header lists no sections`);
  const sections = new Map<string, SectionArray>();
  let offset = align4(12 + jsonLength);
  for (const section of list) {
    const bytesPer = section.type === 'f32' ? 4 : 1;
    const byteLength = section.length * bytesPer;
    if (!Number.isInteger(section.length) || offset + byteLength > own.length)
      throw new RankingFormatError(`${magic} section ${section.name} is truncated`);
    sections.set(
      section.name,
      section.type === 'f32'
        ? new Float32Array(own.buffer, offset, section.length)
        : new Uint8Array(own.buffer, offset, section.length),
    );
    offset += align4(byteLength);
  }
  return { header, sections };
}
