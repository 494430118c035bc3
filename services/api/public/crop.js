// Crop to search: on an uploaded photo the shopper draws a box (pointer events: mouse, pen or touch) or
// types it in percent (the keyboard way), and the search uses only that region (`crop=x,y,w,h` on
// POST /v1/similar, fractions of the photo as displayed).
import { el, state } from './page.js';

/** A box smaller than this (a fraction of each side) is taken for a click, not a crop. */
const MIN_SIDE = 0.03;

const clamp01 = (v) => Math.max(0, Math.min(1, v));
/** Four decimals, rounded down so that x + w and y + h never exceed 1 by rounding. */
const floor4 = (v) => Math.floor(v * 10000) / 10000;

/** The crop as the multipart field wants it: `x,y,w,h`, plain decimals. */
export function cropParam(crop) {
  const x = floor4(crop.x);
  const y = floor4(crop.y);
  const w = floor4(Math.min(crop.w, 1 - x));
  const h = floor4(Math.min(crop.h, 1 - y));
  return [x, y, w, h].join(',');
}

/** Draws the current crop (or none) and brings the status line and the numeric inputs up to date. */
export function showCrop(crop = state.query && state.query.crop) {
  const uploading = Boolean(state.query && state.query.kind === 'upload');
  el.cropStage.classList.toggle('croppable', uploading);
  el.cropControls.hidden = !uploading;
  drawBox(uploading ? crop : null);
  el.cropClear.hidden = !crop;
  el.cropStatus.textContent = crop
    ? `Searching the marked area: ${pct(crop.w)} × ${pct(crop.h)} % of the photo.`
    : 'Drag on the photo to search only part of it.';
  const box = crop || { x: 0, y: 0, w: 1, h: 1 };
  for (const key of ['x', 'y', 'w', 'h']) el.cropInputs[key].value = String(pct(box[key]));
}

const pct = (v) => Math.round(v * 100);

function drawBox(box) {
  el.cropBox.hidden = !box;
  if (!box) return;
  // Through the CSSOM: the page's Content-Security-Policy forbids inline style attributes.
  el.cropBox.style.left = `${box.x * 100}%`;
  el.cropBox.style.top = `${box.y * 100}%`;
  el.cropBox.style.width = `${box.w * 100}%`;
  el.cropBox.style.height = `${box.h * 100}%`;
}

/** `onCrop(crop | null)` searches with the new crop. */
export function wireCrop(onCrop) {
  let start = null;
  let box = null;

  const point = (event) => {
    const rect = el.cropStage.getBoundingClientRect();
    return {
      x: clamp01((event.clientX - rect.left) / rect.width),
      y: clamp01((event.clientY - rect.top) / rect.height),
    };
  };
  const boxFrom = (a, b) => ({
    x: Math.min(a.x, b.x),
    y: Math.min(a.y, b.y),
    w: Math.abs(a.x - b.x),
    h: Math.abs(a.y - b.y),
  });

  el.cropStage.addEventListener('pointerdown', (event) => {
    if (!el.cropStage.classList.contains('croppable') || event.button !== 0) return;
    event.preventDefault(); // no image drag, no text selection
    el.cropStage.setPointerCapture(event.pointerId);
    start = point(event);
    box = null;
  });
  el.cropStage.addEventListener('pointermove', (event) => {
    if (!start) return;
    box = boxFrom(start, point(event));
    drawBox(box);
  });
  const finish = (event, cancelled) => {
    if (!start) return;
    if (el.cropStage.hasPointerCapture(event.pointerId)) el.cropStage.releasePointerCapture(event.pointerId);
    const drawn = box;
    start = null;
    box = null;
    if (cancelled || !drawn || drawn.w < MIN_SIDE || drawn.h < MIN_SIDE) return void showCrop();
    onCrop(drawn);
  };
  el.cropStage.addEventListener('pointerup', (event) => finish(event, false));
  el.cropStage.addEventListener('pointercancel', (event) => finish(event, true));
  // The browser's own image drag would steal the pointer.
  el.cropStage.addEventListener('dragstart', (event) => event.preventDefault());

  el.cropForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const read = (key) => Number(el.cropInputs[key].value) / 100;
    const x = clamp01(read('x'));
    const y = clamp01(read('y'));
    const w = Math.min(clamp01(read('w')), 1 - x);
    const h = Math.min(clamp01(read('h')), 1 - y);
    if (!(w >= MIN_SIDE && h >= MIN_SIDE)) {
      el.cropStatus.textContent = 'The area must be at least 3 % wide and high.';
      return;
    }
    // The whole photo is no crop at all.
    onCrop(x === 0 && y === 0 && w === 1 && h === 1 ? null : { x, y, w, h });
  });
  el.cropClear.addEventListener('click', () => onCrop(null));
}
