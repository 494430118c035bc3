import path from 'node:path';

/** The monorepo root (tests/support/.. /..). */
export const repoRoot = path.resolve(__dirname, '../..');
/** Read-only data beside the repo: models and the fashion sample. Never copied into the repo. */
export const sharedDir = process.env.LOOKALIKE_SHARED_DIR ?? path.resolve(repoRoot, '../shared');
export const fashionSampleDir = path.join(sharedDir, 'data/fashion-sample');
export const fashionImagesDir = path.join(fashionSampleDir, 'images');
export const fashionCsv = path.join(fashionSampleDir, 'styles.csv');
export const modelCacheDir = process.env.MODEL_CACHE_DIR ?? path.join(repoRoot, '.cache/models');
export const modelMirror = process.env.MODEL_MIRROR ?? path.join(sharedDir, 'models');
/** Redis every test may use with its own key prefix; tests never stop it. */
export const sharedRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
