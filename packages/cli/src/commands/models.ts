import { Command } from 'commander';
import { isLookalikeError } from '@lookalike/config';
import { fetchModel, modelRegistry, verifyModelFile, type ModelEntry } from '@lookalike/models';
import path from 'node:path';
import type { CliConfig } from '../config';

/** The model files behind the names (an ensemble stands for its members), each once. */
function selectModels(names: string[], all: boolean, config: CliConfig): ModelEntry[] {
  if (all) return modelRegistry.list();
  const entries = (names.length ? names : [config.MODEL]).flatMap((n) =>
    modelRegistry.resolve(n).members.map((m) => m.entry),
  );
  return [...new Map(entries.map((e) => [e.name, e])).values()];
}

export function modelsCommand(loadConfig: () => CliConfig): Command {
  const models = new Command('models').description(
    'list, fetch and verify the ONNX models (and ensembles of them) in the registry',
  );

  models
    .command('list')
    .description('show every model and ensemble in the registry and whether its files are in the cache')
    .action(async () => {
      const config = loadConfig();
      const states = new Map<string, string>();
      for (const entry of modelRegistry.list()) {
        const problem = await verifyModelFile(entry, path.resolve(config.MODEL_CACHE_DIR, entry.file));
        const state =
          problem === null
            ? 'cached, verified'
            : problem === 'file is missing'
              ? 'not cached'
              : `BAD (${problem})`;
        states.set(entry.name, state);
        const mark = entry.name === config.MODEL ? '*' : ' ';
        console.log(
          `${mark} ${entry.name.padEnd(30)} ${String(entry.embedding.dimension).padStart(5)}-d  ` +
            `${(entry.bytes / 2 ** 20).toFixed(1).padStart(5)} MiB  ${entry.licence.padEnd(13)} ${state}`,
        );
      }
      for (const ensemble of modelRegistry.listEnsembles()) {
        const mark = ensemble.name === config.MODEL ? '*' : ' ';
        const members = ensemble.members.map((m) => `${m.weight}×${m.entry.name}`).join(' + ');
        const ready = ensemble.members.every((m) => states.get(m.entry.name) === 'cached, verified');
        console.log(
          `${mark} ${ensemble.name.padEnd(30)} ${String(ensemble.dimension).padStart(5)}-d  ensemble of ` +
            `${members}  ${ready ? 'cached, verified' : 'not all files cached'}`,
        );
      }
    });

  models
    .command('fetch')
    .description(
      'download models into MODEL_CACHE_DIR, verifying size and sha256 (MODEL_MIRROR: a dir or base URL)',
    )
    .argument('[names...]', 'registry names, models or ensembles (default: $MODEL)')
    .option('--all', 'every model in the registry')
    .action(async (names: string[], options: { all?: boolean }) => {
      const config = loadConfig();
      const failures: string[] = [];
      for (const entry of selectModels(names, options.all ?? false, config)) {
        try {
          const fetched = await fetchModel(entry, {
            cacheDir: config.MODEL_CACHE_DIR,
            mirror: config.MODEL_MIRROR,
            log: (m) => console.error(m),
          });
          console.log(
            `${entry.name}: ${fetched.path} (verified sha256 ${entry.sha256.slice(0, 12)}…, from ${fetched.source})`,
          );
        } catch (err) {
          // Keep going so one unreachable model does not hide the state of the others.
          if (!isLookalikeError(err)) throw err;
          console.error(`error [${err.code}]: ${err.message}`);
          failures.push(entry.name);
        }
      }
      if (failures.length) {
        console.error(`not fetched: ${failures.join(', ')}`);
        process.exitCode = 1;
      }
    });

  models
    .command('verify')
    .description('check cached models against the registry; exits 1 when one is missing or wrong')
    .argument('[names...]', 'registry names, models or ensembles (default: $MODEL)')
    .option('--all', 'every model in the registry')
    .action(async (names: string[], options: { all?: boolean }) => {
      const config = loadConfig();
      let bad = 0;
      for (const entry of selectModels(names, options.all ?? false, config)) {
        const problem = await verifyModelFile(entry, path.resolve(config.MODEL_CACHE_DIR, entry.file));
        console.log(`${entry.name}: ${problem ?? 'ok'}`);
        if (problem !== null) bad++;
      }
      if (bad) process.exitCode = 1;
    });

  return models;
}
