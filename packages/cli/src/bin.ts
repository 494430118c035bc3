#!/usr/bin/env node
import { isLookalikeError } from '@lookalike/config';
import { buildProgram } from './program';

buildProgram(process.env)
  .parseAsync(process.argv)
  .catch((err: unknown) => {
    // Expected failures (bad config, model refused, bad input) print their message without a stack.
    if (isLookalikeError(err)) console.error(`error [${err.code}]: ${err.message}`);
    else console.error(err);
    process.exitCode = 1;
  });
