import { Command } from 'commander';
import { type Env } from '@lookalike/config';
import { loadConfig, type CliConfig } from './config';
import { modelsCommand } from './commands/models';
import { importCommand } from './commands/import';
import { evalCommand } from './commands/eval';
import { evalFeedbackCommand } from './commands/eval-feedback';

/**
 * The one CLI entry point (`pnpm lookalike <command>`). Commands are added here; each lives in
 * commands/<name>.ts and receives a config loader so `--help` works even with a bad environment.
 * The work behind the bigger commands has a folder of its own: catalogue-import/ (CSV → jobs →
 * totals) and evaluation/ (k-fold judging, report, contact sheet; the shopper simulator and feedback
 * experiment behind eval-feedback).
 */
export function buildProgram(env: Env): Command {
  let config: CliConfig | undefined;
  const getConfig = (): CliConfig => (config ??= loadConfig(env));
  const program = new Command('lookalike')
    .description('lookalike: visual "more like this" search for product catalogues')
    .showHelpAfterError()
    .configureOutput({ outputError: (str, write) => write(str) });
  program.addCommand(modelsCommand(getConfig));
  program.addCommand(importCommand(getConfig));
  program.addCommand(evalCommand(getConfig));
  program.addCommand(evalFeedbackCommand(getConfig));
  return program;
}
