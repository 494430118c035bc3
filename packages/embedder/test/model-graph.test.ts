import { readFileSync } from 'node:fs';
import { embeddingModelOf } from '@lookalike/models';
import { prepareEmbeddingModel, prepareModel } from '@lookalike/embedder';
import { modelFile } from './helpers';

describe('prepareEmbeddingModel', () => {
  it('prepares a single model as it is and refuses a wrong number of files', async () => {
    const { entry, path } = await modelFile('mobilenetv2-12-int8');
    const bytes = readFileSync(path);
    const model = embeddingModelOf(entry);
    const prepared = prepareEmbeddingModel(model, [bytes]);
    const direct = prepareModel(bytes, entry);
    expect(prepared.feature).toBe(direct.feature);
    expect(prepared.embeddingOutput).toBe(direct.embeddingOutput);
    expect(Buffer.from(prepared.bytes).equals(Buffer.from(direct.bytes))).toBe(true);
    expect(() => prepareEmbeddingModel(model, [])).toThrow(/has 1 model files, got 0/);
  });
});
