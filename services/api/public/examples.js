// "More like this / not like this": the examples of a multi-example search (POST /v1/recommend). The
// page keeps the examples to look like (positive) and to move away from (negative) in state.query
// (kind 'examples'); a search by item or by photo becomes the first positive. They are shown as chips
// above the results, each with a remove button; queries.js wires the actions.
import { cropParam } from './crop.js';
import { el, imageUrl, make, state, titleOf } from './page.js';

/** MAX_POSITIVE and MAX_NEGATIVE of POST /v1/recommend. */
export const MAX_EXAMPLES = 10;

const LABELS = { positive: 'More like', negative: 'Less like' };

/** A catalogue item as an example. */
export const itemExample = (id, metadata) => ({ id, title: titleOf(id, metadata), metadata });

/** The photo searched with as an example (the marked area only, when there is one). */
export const photoExample = (upload) => ({
  upload,
  title: upload.crop ? 'Your photo (marked area)' : 'Your photo',
});

/**
 * The examples the current search stands for: those of an examples search, or its item or photo as the
 * one positive. Copies, so that a change is a new query (and a new history entry).
 */
export function currentExamples() {
  const query = state.query;
  if (!query) return { positive: [], negative: [] };
  if (query.kind === 'examples') return { positive: [...query.positive], negative: [...query.negative] };
  if (query.kind === 'item') return { positive: [itemExample(query.id, query.metadata)], negative: [] };
  return { positive: [photoExample(query)], negative: [] };
}

function chip(example, kind, index, removable) {
  const src = example.upload ? example.upload.url : imageUrl(example.id);
  const label = LABELS[kind].toLowerCase();
  return make(
    'li',
    {
      class: `example-chip example-${kind}`,
      dataset: example.upload ? { kind, photo: 'true' } : { id: example.id, kind },
    },
    make('img', { class: 'example-thumb', src, alt: '', width: '28', height: '28' }),
    make('span', { class: 'example-title', text: example.title }),
    removable
      ? make(
          'button',
          {
            type: 'button',
            class: 'example-remove',
            dataset: { kind, index: String(index) },
            title: `Remove from “${label}”`,
          },
          make('span', { 'aria-hidden': 'true', text: '×' }),
          make('span', { class: 'visually-hidden', text: `Remove ${example.title} from “${label}”` }),
        )
      : null,
  );
}

/** Shows the examples panel for an examples search (and hides it otherwise). */
export function showExamples() {
  const query = state.query;
  const on = Boolean(query && query.kind === 'examples');
  el.examples.hidden = !on;
  if (!on) return;
  // The one positive left is not removable: a search needs at least one ("Clear examples" goes back).
  const lastPositive = query.positive.length === 1;
  el.positiveList.replaceChildren(
    ...query.positive.map((example, i) => chip(example, 'positive', i, !lastPositive)),
  );
  el.negativeList.replaceChildren(...query.negative.map((example, i) => chip(example, 'negative', i, true)));
  el.negativeList.hidden = query.negative.length === 0;
  el.negativeNone.hidden = query.negative.length > 0;
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result));
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** The marked area of a photo as a JPEG; the whole photo where the browser cannot decode it. */
async function croppedPhoto(file, crop) {
  try {
    const bitmap = await createImageBitmap(file);
    const sx = Math.round(crop.x * bitmap.width);
    const sy = Math.round(crop.y * bitmap.height);
    const sw = Math.max(1, Math.round(crop.w * bitmap.width));
    const sh = Math.max(1, Math.round(crop.h * bitmap.height));
    const canvas = make('canvas', { width: String(sw), height: String(sh) });
    canvas.getContext('2d').drawImage(bitmap, sx, sy, sw, sh, 0, 0, sw, sh);
    bitmap.close();
    return await new Promise((resolve, reject) =>
      canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('no blob'))), 'image/jpeg', 0.92),
    );
  } catch (err) {
    console.debug('lookalike demo: cannot crop the photo here, sending all of it', err);
    return file;
  }
}

/** The photo as `imageBase64` (a data: URL), encoded once per photo and crop. */
async function photoRef(upload) {
  const crop = upload.crop ? cropParam(upload.crop) : '';
  if (!upload.encoded || upload.encoded.crop !== crop) {
    const blob = upload.crop ? await croppedPhoto(upload.file, upload.crop) : upload.file;
    upload.encoded = { crop, value: await dataUrl(blob) };
  }
  return { imageBase64: upload.encoded.value };
}

/** The body of POST /v1/recommend for an examples search. */
export async function recommendBody(query, k, filter) {
  const ref = (example) => (example.upload ? photoRef(example.upload) : { id: example.id });
  const body = {
    positive: await Promise.all(query.positive.map(ref)),
    negative: query.negative.map((example) => ({ id: example.id })),
    k,
  };
  if (filter) body.filter = filter;
  return body;
}
