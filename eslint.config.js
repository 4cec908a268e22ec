// ESLint (flat config) with typescript-eslint's rules, run by `npm run lint`
// before the tests. Rules that encode the project's conventions (DESIGN.md,
// STYLE.md) are listed below with why.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {ignores: ['dist/**', 'node_modules/**', 'completions/**', 'examples/**/dist/**', 'test/fixtures/**']},
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {ecmaVersion: 2022, sourceType: 'module'},
    rules: {
      // Unused names are errors, except the deliberate `_` placeholders and rest siblings used to drop a key.
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true, caughtErrors: 'none'}],
      // Node's own modules by their node: names, so a package named like one can never shadow it.
      // `catch {}` is how this code says "absent is fine" (an optional file, a best-effort cleanup).
      'no-empty': ['error', {allowEmptyCatch: true}],
      // XML (RFC 6120 §11.1), SASLprep and log sanitising match control characters on purpose.
      'no-control-regex': 'off',
      'no-restricted-imports': ['error', {patterns: [{regex: '^(fs|path|os|crypto|net|tls|child_process|url|util|stream|events|http|https|zlib|dns|readline)(/.*)?$', message: 'import Node modules as node:NAME'}]}],
    },
  },
  {
    // Nothing in src/ prints (DESIGN.md): it returns values or throws; the CLI layer renders.
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {'no-console': 'error'},
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: {
      globals: {process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', URL: 'readonly', performance: 'readonly', require: 'readonly', module: 'writable', __dirname: 'readonly', fetch: 'readonly', AbortController: 'readonly', TextDecoder: 'readonly', TextEncoder: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', globalThis: 'readonly', WebAssembly: 'readonly'},
    },
    rules: {
      '@typescript-eslint/no-require-imports': 'off',
      'no-empty': ['error', {allowEmptyCatch: true}],
      'no-control-regex': 'off',
      'no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
      '@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none'}],
    },
  },
  {
    // bin/package.json makes bin/ CommonJS: the loader runs before any ESM.
    files: ['bin/load-bundle.js'],
    languageOptions: {sourceType: 'commonjs', globals: {exports: 'writable'}},
  },
)
