import { createHash } from 'node:crypto';
import { CoEngagementTable, type CoEngagementEntry } from './aggregate';
import { VISUAL_ONLY, type BlendOptions } from './blend';

/**
 * Binary form of a `CoEngagementTable`, to publish as a snapshot attachment (the manifest checksums
 * attachments; the trailing digest here also refuses a side file damaged on its own).
 *
 *   magic "LKCE" | u16 version | u16 reserved (0)
 *   f64 builtAt (ms) | f64 w_pair | f64 w_item | f64 floor    the blend fitted with the table
 *   u32 settingsLength | settingsLength bytes of UTF-8 JSON    how to run the blend (FeedbackSettings)
 *   u32 idCount | u32 itemCount | u32 sourceCount | u32 pairCount
 *   idCount × (u16 byteLength, UTF-8 bytes)                 the string table of every id used
 *   itemCount × (u32 id, f32 score, u32 sessions)           item-level lifts
 *   sourceCount × (u32 id, u32 entries)                      the sources, each followed by …
 *   pairCount × (u32 id, f32 score, u32 sessions)            … its entries, in table order
 *   8 bytes: the first 8 bytes of sha256 of everything before
 *
 * Little-endian. Ids are stored once whatever the number of pairs they occur in; a pair costs 12
 * bytes (top-32 per item: ~400 bytes per source item).
 */

export const CO_ENGAGEMENT_ATTACHMENT = 'feedback-co-engagement.bin';
const MAGIC = 'LKCE';
export const CO_ENGAGEMENT_FORMAT_VERSION = 2;
const DIGEST_BYTES = 8;

export class FeedbackFormatError extends Error {}

function digest(bytes: Uint8Array): Buffer {
  return createHash('sha256').update(bytes).digest().subarray(0, DIGEST_BYTES);
}

/**
 * How the weights were fitted, so every reader blends exactly as the fit judged it: the label-slot
 * fields (`labelSlots`) and the number of visual candidates feedback may re-order.
 */
export interface FeedbackSettings {
  slotFields: string[];
  candidates: number;
}

/** What the API needs to blend: the table, the weights and floor fitted with it, and its settings. */
export interface FeedbackAttachment {
  table: CoEngagementTable;
  blend: BlendOptions;
  settings: FeedbackSettings;
}

const NO_BLEND: BlendOptions = { weights: VISUAL_ONLY, floor: -Infinity };
export const DEFAULT_FEEDBACK_SETTINGS: FeedbackSettings = { slotFields: [], candidates: 50 };

function checkSettings(value: unknown): FeedbackSettings {
  const v = value as Partial<FeedbackSettings> | null;
  if (
    typeof v !== 'object' ||
    v === null ||
    !Array.isArray(v.slotFields) ||
    !v.slotFields.every((f) => typeof f === 'string') ||
    !Number.isInteger(v.candidates) ||
    (v.candidates as number) < 1
  )
    throw new FeedbackFormatError('co-engagement settings are invalid');
  return { slotFields: [...v.slotFields], candidates: v.candidates as number };
}

export function encodeCoEngagement(
  table: CoEngagementTable,
  blend: BlendOptions = NO_BLEND,
  settings: FeedbackSettings = DEFAULT_FEEDBACK_SETTINGS,
): Uint8Array {
  const settingsBytes = Buffer.from(JSON.stringify(checkSettings(settings)), 'utf8');
  const ids = new Map<string, number>();
  const idOf = (id: string) => {
    let i = ids.get(id);
    if (i === undefined) ids.set(id, (i = ids.size));
    return i;
  };
  for (const [source, entries] of table.sources) {
    idOf(source);
    for (const e of entries) idOf(e.id);
  }
  for (const id of table.items.keys()) idOf(id);
  const encoded = [...ids.keys()].map((id) => Buffer.from(id, 'utf8'));
  for (const [i, bytes] of encoded.entries())
    if (bytes.length > 0xffff) throw new RangeError(`id ${[...ids.keys()][i]?.slice(0, 40)}… is too long`);
  const pairCount = table.pairCount;
  const size =
    8 +
    32 +
    4 +
    settingsBytes.length +
    16 +
    encoded.reduce((n, b) => n + 2 + b.length, 0) +
    table.items.size * 12 +
    table.sources.size * 8 +
    pairCount * 12 +
    DIGEST_BYTES;
  const out = Buffer.alloc(size);
  let o = out.write(MAGIC, 0, 'latin1');
  o = out.writeUInt16LE(CO_ENGAGEMENT_FORMAT_VERSION, o);
  o = out.writeUInt16LE(0, o);
  o = out.writeDoubleLE(table.builtAt, o);
  o = out.writeDoubleLE(blend.weights.pair, o);
  o = out.writeDoubleLE(blend.weights.item, o);
  o = out.writeDoubleLE(blend.floor, o);
  o = out.writeUInt32LE(settingsBytes.length, o);
  o += settingsBytes.copy(out, o);
  o = out.writeUInt32LE(ids.size, o);
  o = out.writeUInt32LE(table.items.size, o);
  o = out.writeUInt32LE(table.sources.size, o);
  o = out.writeUInt32LE(pairCount, o);
  for (const bytes of encoded) {
    o = out.writeUInt16LE(bytes.length, o);
    o += bytes.copy(out, o);
  }
  const entry = (e: CoEngagementEntry) => {
    o = out.writeUInt32LE(ids.get(e.id) as number, o);
    o = out.writeFloatLE(e.score, o);
    o = out.writeUInt32LE(Math.min(e.sessions, 0xffffffff), o);
  };
  for (const e of table.items.values()) entry(e);
  for (const [source, entries] of table.sources) {
    o = out.writeUInt32LE(ids.get(source) as number, o);
    o = out.writeUInt32LE(entries.length, o);
    for (const e of entries) entry(e);
  }
  digest(out.subarray(0, o)).copy(out, o);
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** Decodes `encodeCoEngagement`'s table; refuses another format, a newer version, or damaged bytes. */
export function decodeCoEngagement(bytes: Uint8Array): CoEngagementTable {
  return decodeFeedbackAttachment(bytes).table;
}

/** Decodes `encodeCoEngagement`'s bytes: the table and the blend stored with it. */
export function decodeFeedbackAttachment(bytes: Uint8Array): FeedbackAttachment {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 56 + DIGEST_BYTES || buf.toString('latin1', 0, 4) !== MAGIC)
    throw new FeedbackFormatError('not a co-engagement table');
  const version = buf.readUInt16LE(4);
  if (version !== CO_ENGAGEMENT_FORMAT_VERSION)
    throw new FeedbackFormatError(
      `co-engagement format version ${version}, this build reads ${CO_ENGAGEMENT_FORMAT_VERSION}`,
    );
  const body = buf.subarray(0, buf.length - DIGEST_BYTES);
  if (!digest(body).equals(buf.subarray(buf.length - DIGEST_BYTES)))
    throw new FeedbackFormatError('co-engagement table is damaged (checksum mismatch)');
  let o = 8;
  const need = (n: number) => {
    if (o + n > body.length) throw new FeedbackFormatError('co-engagement table is truncated');
  };
  const builtAt = buf.readDoubleLE(o);
  const blend: BlendOptions = {
    weights: { pair: buf.readDoubleLE(o + 8), item: buf.readDoubleLE(o + 16) },
    floor: buf.readDoubleLE(o + 24),
  };
  o += 32;
  need(4);
  const settingsLength = buf.readUInt32LE(o);
  o += 4;
  need(settingsLength);
  let settings: FeedbackSettings;
  try {
    settings = checkSettings(JSON.parse(buf.toString('utf8', o, o + settingsLength)));
  } catch (err) {
    if (err instanceof FeedbackFormatError) throw err;
    throw new FeedbackFormatError('co-engagement settings are not JSON');
  }
  o += settingsLength;
  need(16);
  const [idCount, itemCount, sourceCount, pairCount] = [0, 1, 2, 3].map((i) =>
    buf.readUInt32LE(o + 4 * i),
  ) as [number, number, number, number];
  o += 16;
  const ids: string[] = [];
  for (let i = 0; i < idCount; i++) {
    need(2);
    const length = buf.readUInt16LE(o);
    o += 2;
    need(length);
    ids.push(buf.toString('utf8', o, o + length));
    o += length;
  }
  const entry = (): CoEngagementEntry => {
    need(12);
    const index = buf.readUInt32LE(o);
    if (index >= ids.length) throw new FeedbackFormatError('co-engagement entry names an unknown id');
    const e = { id: ids[index] as string, score: buf.readFloatLE(o + 4), sessions: buf.readUInt32LE(o + 8) };
    o += 12;
    return e;
  };
  const items = new Map<string, CoEngagementEntry>();
  for (let i = 0; i < itemCount; i++) {
    const e = entry();
    items.set(e.id, e);
  }
  const sources = new Map<string, CoEngagementEntry[]>();
  let pairs = 0;
  for (let s = 0; s < sourceCount; s++) {
    need(8);
    const index = buf.readUInt32LE(o);
    const count = buf.readUInt32LE(o + 4);
    o += 8;
    if (index >= ids.length) throw new FeedbackFormatError('co-engagement source names an unknown id');
    pairs += count;
    if (pairs > pairCount) throw new FeedbackFormatError('co-engagement table holds more pairs than it says');
    const entries: CoEngagementEntry[] = [];
    for (let i = 0; i < count; i++) entries.push(entry());
    sources.set(ids[index] as string, entries);
  }
  if (pairs !== pairCount || o !== body.length)
    throw new FeedbackFormatError('co-engagement table length does not match its header');
  return { table: new CoEngagementTable(sources, items, builtAt), blend, settings };
}

/** No feedback: an empty table with weights 0 (the visual ranking, unchanged). */
export function noFeedback(): FeedbackAttachment {
  return { table: CoEngagementTable.empty(), blend: NO_BLEND, settings: DEFAULT_FEEDBACK_SETTINGS };
}

/** Whether `feedback` can change any ranking: some evidence and a weight other than 0. */
export function feedbackActive(feedback: FeedbackAttachment): boolean {
  const { pair, item } = feedback.blend.weights;
  return !feedback.table.isEmpty && (pair !== 0 || item !== 0);
}

const decoded = new WeakMap<object, FeedbackAttachment | null>();

type AttachmentSource = { attachment?(name: string): Uint8Array | undefined };

/**
 * The feedback a snapshot carries, decoded once per snapshot; null when it carries none. A damaged
 * attachment throws: the snapshot's manifest checksum should have refused it already.
 */
export function publishedFeedback(snapshot: AttachmentSource | null): FeedbackAttachment | null {
  if (!snapshot) return null;
  let feedback = decoded.get(snapshot);
  if (feedback === undefined) {
    const bytes = snapshot.attachment?.(CO_ENGAGEMENT_ATTACHMENT);
    feedback = bytes ? decodeFeedbackAttachment(bytes) : null;
    decoded.set(snapshot, feedback);
  }
  return feedback;
}

/**
 * The feedback a snapshot carries, or an empty table with weights 0 — the visual ranking, unchanged —
 * when it has none (`publishedFeedback`).
 */
export function readFeedback(snapshot: AttachmentSource | null): FeedbackAttachment {
  return publishedFeedback(snapshot) ?? noFeedback();
}
