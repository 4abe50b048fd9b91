// Four projects: unit tests sit beside the code; integration and e2e tests need the local stack (`make up`);
// cluster tests need the test cluster (test/cluster/run.sh).
const transform = { '^.+\\.ts$': ['ts-jest', { tsconfig: '<rootDir>/tsconfig.test.json' }] };
const common = {
  testEnvironment: 'node',
  transform,
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // The lint fixtures are source files only: no jest module (and no package name) may come from them.
  modulePathIgnorePatterns: ['<rootDir>/test/lint/fixtures/'],
};
module.exports = {
  projects: [
    // test/lint: the boundary lint rules run on fixtures (no infrastructure).
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/{packages,services}/*/src/**/*.test.ts', '<rootDir>/test/lint/**/*.test.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/{packages,services}/*/test/integration/**/*.test.ts', '<rootDir>/test/integration/**/*.test.ts'],
    },
    { ...common, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'] },
    // cluster: against the real single-node Kubernetes of deploy/cluster, run by test/cluster/run.sh.
    { ...common, displayName: 'cluster', testMatch: ['<rootDir>/{packages,services}/*/test/cluster/**/*.test.ts'] },
  ],
};
