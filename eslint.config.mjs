// Lint: the layering the design rests on, checked rather than hoped for (see ../shared/DESIGN.md):
//   src/core   the engine: runs in the worker and the CLI, so never vscode, the host, the worker or the CLI;
//   webview/   browser bundles: from src only the contract and the webview protocol, no Node built-ins;
//   src/worker and src/cli.ts: never vscode (they run outside the editor).
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['fs', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'http', 'https', 'net', 'stream', 'util', 'zlib'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', '.artifacts/**', 'out-*/**', 'test/data/**'] },
  // Plain .js/.cjs files are CommonJS (test hooks preloaded with --require may return at top level).
  { files: ['**/*.js', '**/*.cjs'], languageOptions: { sourceType: 'commonjs' } },
  {
    files: ['**/*.ts', '**/*.mts', '**/*.mjs'],
    languageOptions: { parser: tseslint.parser, ecmaVersion: 2022, sourceType: 'module' },
    plugins: { '@typescript-eslint': tseslint.plugin },
    rules: {
      'no-debugger': 'error',
      'no-dupe-keys': 'error',
      'no-duplicate-case': 'error',
      'no-self-assign': 'error',
      'no-unreachable': 'error',
      'use-isnan': 'error',
      'valid-typeof': 'error',
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
  {
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'src/core runs in the worker and the CLI: no vscode.' }],
          patterns: [
            {
              group: ['**/extension', '**/extension/**', '**/worker', '**/worker/**', '**/cli', '**/webviewProtocol', '**/webview/**'],
              message: 'src/core is the bottom layer: it may import src/contract and itself only.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/contract.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['./*', '../*'], message: 'src/contract.ts is the bottom: it imports nothing of the project.' }] },
      ],
    },
  },
  {
    files: ['src/worker/**/*.ts', 'src/cli.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [{ name: 'vscode', message: 'The worker and the CLI run outside the editor: no vscode.' }],
          patterns: [{ group: ['**/extension', '**/extension/**'], message: 'The worker and the CLI do not import the extension host.' }],
        },
      ],
    },
  },
  {
    files: ['webview/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'vscode', message: 'Webviews talk to the host by messages only.' },
            ...NODE_BUILTINS.map((name) => ({ name, message: 'Webviews run in a browser frame: no Node built-ins.' })),
          ],
          patterns: [
            { group: ['node:*'], message: 'Webviews run in a browser frame: no Node built-ins.' },
            {
              group: ['**/src/*', '!**/src/contract', '!**/src/webviewProtocol'],
              message: 'From src, webviews import only src/contract and src/webviewProtocol.',
            },
          ],
        },
      ],
    },
  },
);
