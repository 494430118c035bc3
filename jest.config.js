// One jest config for the monorepo. Workspace packages resolve to their TypeScript sources so unit
// tests need no build; system tests (tests/) start the built services as real processes.
const swc = [
  '@swc/jest',
  { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'commonjs' } },
];
const shared = {
  transform: { '^.+\\.ts$': swc },
  testEnvironment: '<rootDir>/jest.environment.js',
  moduleNameMapper: {
    '^@lookalike/(config|contracts|filter|models|image-source|embedder|index-store|projection|queue|ranking|feedback|client|events)$':
      '<rootDir>/packages/$1/src/index.ts',
  },
};
/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 60_000,
  projects: [
    {
      ...shared,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/packages/*/test/**/*.test.ts',
        '<rootDir>/services/*/test/**/*.test.ts',
        '<rootDir>/bench/test/**/*.test.ts',
      ],
    },
    {
      ...shared,
      displayName: 'system',
      testMatch: ['<rootDir>/tests/**/*.test.ts'],
    },
  ],
};
