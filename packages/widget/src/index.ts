/**
 * The lookalike widget, one ES module (dist/lookalike.js, served by the API at /widget/lookalike.js):
 * importing it defines <lookalike-similar> and <lookalike-similar-upload>.
 */
import { LookalikeSimilar, LookalikeSimilarUpload } from './elements';

export { LookalikeSimilar, LookalikeSimilarUpload };
export type { ClickDetail, ErrorDetail, ImpressionDetail, Source } from './elements';

// A page may load the module twice (two snippets, two versions): the first definition stays.
if (!customElements.get('lookalike-similar')) customElements.define('lookalike-similar', LookalikeSimilar);
if (!customElements.get('lookalike-similar-upload'))
  customElements.define('lookalike-similar-upload', LookalikeSimilarUpload);
