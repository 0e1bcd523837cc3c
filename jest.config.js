/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }],
    // A few dependencies ship ESM only; Jest's CommonJS runtime needs them compiled.
    '^.+\\.m?js$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }],
  },
  transformIgnorePatterns: ['/node_modules/(?!(?:[^/]+/node_modules/)?(?:cookie|postal-mime)/)'],
  // Integration tests share two cores with PostgreSQL and Redis; more workers only thrash.
  maxWorkers: 2,
  testTimeout: 30000,
};
