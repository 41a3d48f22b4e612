/** Tests run TypeScript through ts-jest without type-checking (tsc does that once, in `npm test`). */
module.exports = {
  testEnvironment: 'node',
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/dist/'],
  testMatch: ['**/test/**/*.test.ts'],
  modulePathIgnorePatterns: ['<rootDir>/dist/'],
  transform: {
    '^.+\\.[tj]s$': ['ts-jest', { tsconfig: { isolatedModules: true, allowJs: true, module: 'commonjs', esModuleInterop: true, target: 'ES2022' } }],
  },
  // p-retry, its dependency and jose are ESM-only; let ts-jest turn them into CommonJS.
  transformIgnorePatterns: ['/node_modules/(?!(p-retry|is-network-error|jose)/)'],
  testTimeout: 60_000,
};
