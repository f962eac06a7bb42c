// Lint rules, including the module boundaries of STYLE.md §2: dependencies
// point one way (cli → workers → runner → client/metrics; outputs read
// metrics and report; report is pure and reads metrics only),
// and only src/cli/ touches process globals.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import n from 'eslint-plugin-n';
import globals from 'globals';

/** Dependencies in CommonJS that src/ loads (src/require-cjs.ts). */
const CJS_PACKAGES = [
  'undici',
  'ws',
  'hdr-histogram-js',
  'commander',
  'cli-progress',
  'ini',
  'shell-quote',
  'esbuild',
  'zeromq',
  '@nats-io/transport-node',
  '@nats-io/jetstream',
  '@nats-io/kv',
  '@nats-io/obj',
];

const forbid = (...folders) => ({
  'no-restricted-imports': [
    'error',
    {
      patterns: folders.map((folder) => ({
        group: [`**/${folder}/*`, `**/${folder}/**`, `../${folder}/*`, `./${folder}/*`],
        message: `STYLE.md §2: this module must not import from ${folder}/`,
      })),
    },
  ],
});

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    ignores: ['src/report/assets/**'],
    languageOptions: { globals: { ...globals.node }, ecmaVersion: 2023, sourceType: 'module' },
  },
  // The report page's own script runs in the browser, after uPlot's.
  {
    files: ['src/report/assets/**/*.js'],
    languageOptions: {
      globals: { ...globals.browser, uPlot: 'readonly' },
      ecmaVersion: 2023,
      sourceType: 'script',
    },
  },
  {
    plugins: { n },
    rules: {
      curly: ['error', 'all'],
      'n/prefer-node-protocol': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/cli/**'],
    rules: {
      'n/no-process-exit': 'error',
      'no-restricted-globals': [
        'error',
        {
          name: 'process',
          message: 'STYLE.md §2: only src/cli/ touches process; pass what you need in',
        },
      ],
    },
  },
  // CommonJS packages come through src/require-cjs.ts (its comment says why);
  // `import type` from them stays allowed.
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: CJS_PACKAGES.map((name) => ({
            name,
            message: 'src/require-cjs.ts: load this CommonJS package with requireCjs()',
            allowTypeImports: true,
          })),
        },
      ],
    },
  },
  {
    files: ['src/metrics/**/*.ts'],
    rules: forbid('client', 'runner', 'outputs', 'report', 'workers', 'cli'),
  },
  { files: ['src/client/**/*.ts'], rules: forbid('runner', 'outputs', 'report', 'workers', 'cli') },
  { files: ['src/runner/**/*.ts'], rules: forbid('outputs', 'report', 'workers', 'cli') },
  { files: ['src/outputs/**/*.ts'], rules: forbid('runner', 'client', 'workers', 'cli') },
  {
    files: ['src/report/**/*.ts'],
    rules: forbid('client', 'runner', 'outputs', 'workers', 'cli'),
  },
  // Worker threads run the runner and ship metrics; outputs stay on the main thread.
  // worker-main.ts is a worker's composition root: its few process uses are
  // marked inline (stray errors must not end the thread).
  { files: ['src/workers/**/*.ts'], rules: forbid('outputs', 'report', 'cli') },
  // Distributed runs (SPEC §10): agents run the runner and workers and ship
  // metrics; the runner's side feeds the CLI's outputs through the CLI.
  { files: ['src/distributed/**/*.ts'], rules: forbid('outputs', 'report', 'cli') },
  {
    files: ['src/cli/**/*.ts'],
    ignores: ['src/cli/main.ts'],
    rules: { 'n/no-process-exit': 'error' },
  },
);
