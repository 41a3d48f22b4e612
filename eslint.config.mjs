import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'bench/out/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-console': 'error',
      // A shutdown handler installed early may read a variable that startup assigns later.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },
  // Jest loads its configs as CommonJS.
  { files: ['*.config.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
);
