// Photo input: the file picker, a photo dropped on the drop zone, or an image pasted anywhere.
import { el } from './page.js';
import { searchByPhoto } from './queries.js';

export function wirePhotoInput() {
  el.photo.addEventListener('change', () => searchByPhoto(el.photo.files && el.photo.files[0]));

  const hasFiles = (event) => event.dataTransfer && [...event.dataTransfer.types].includes('Files');
  for (const type of ['dragenter', 'dragover']) {
    el.dropzone.addEventListener(type, (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = 'copy';
      el.dropzone.classList.add('is-dragging');
    });
  }
  el.dropzone.addEventListener('dragleave', (event) => {
    if (!el.dropzone.contains(event.relatedTarget)) el.dropzone.classList.remove('is-dragging');
  });
  el.dropzone.addEventListener('drop', (event) => {
    event.preventDefault();
    el.dropzone.classList.remove('is-dragging');
    searchByPhoto(event.dataTransfer.files[0]);
  });
  // A photo dropped next to the drop zone must not navigate away from the page.
  window.addEventListener('dragover', (event) => hasFiles(event) && event.preventDefault());
  window.addEventListener('drop', (event) => hasFiles(event) && event.preventDefault());
  document.addEventListener('paste', (event) => {
    const file = [...(event.clipboardData ? event.clipboardData.files : [])].find((f) =>
      f.type.startsWith('image/'),
    );
    if (file) searchByPhoto(file);
  });
}
