/** `npm run test:reliability`: rolling restarts and the fault matrix through real processes. */
const base = require('./jest.config');

module.exports = { ...base, testMatch: ['<rootDir>/reliability/**/*.test.ts'], testTimeout: 180000 };
