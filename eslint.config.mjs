// Lint: the layering the design rests on, checked rather than hoped for (see ../shared/DESIGN.md):
//   src/core   the engine: runs in the worker and the CLI, so never vscode, the host, the worker or the CLI;
//              and its folders are layers (model < text, gpu < ort < io, eval < prune; coreLayer below);
//   webview/   browser bundles: from src only the contract and the webview protocol, no Node built-ins;
//   src/worker and src/cli.ts: never vscode (they run outside the editor).
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = ['fs', 'path', 'os', 'child_process', 'worker_threads', 'crypto', 'http', 'https', 'net', 'stream', 'util', 'zlib'];

/** src/core: never vscode, the host, the worker or the CLI; and not the folders of core above `files`' own. */
function coreLayer(files, above) {
  return [
    {
      files: [files],
      plugins: { '@typescript-eslint': tseslint.plugin },
      rules: {
        'no-restricted-imports': 'off',
        '@typescript-eslint/no-restricted-imports': [
          'error',
          {
            paths: [{ name: 'vscode', message: 'src/core runs in the worker and the CLI: no vscode.' }],
            patterns: [
              {
                group: ['**/extension', '**/extension/**', '**/worker', '**/worker/**', '**/cli', '**/webviewProtocol', '**/webview/**'],
                message: 'src/core is the bottom layer: it may import src/contract and itself only.',
              },
              ...(above.length
                ? [
                    {
                      group: above.flatMap((d) => [`**/core/${d}/**`, `../${d}/**`, `./${d}/**`, `../../${d}/**`]),
                      allowTypeImports: true,
                      message: `${files.replace('/**/*.ts', '/').replace('/*.ts', '/')} sits below ${above.join(', ')} in src/core's layers (eslint.config.mjs): move the shared piece down instead.`,
                    },
                  ]
                : []),
            ],
          },
        ],
      },
    },
  ];
}

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
  // src/core's folders are layers too: model/ (what a checkpoint is) at the bottom; text/, gpu/;
  // ort/ (sessions, the runner, the model's graphs) over model/ and gpu/; io/ (outputs, lock,
  // resume) and eval/ over those; prune/ (the job) over everything. A lower layer never imports a
  // higher one (type-only imports are allowed where a lower layer names a higher one's type).
  ...coreLayer('src/core/*.ts', ['model', 'text', 'gpu', 'ort', 'io', 'eval', 'prune']),
  ...coreLayer('src/core/model/**/*.ts', ['text', 'gpu', 'ort', 'io', 'eval', 'prune']),
  ...coreLayer('src/core/text/**/*.ts', ['gpu', 'ort', 'io', 'eval', 'prune']),
  ...coreLayer('src/core/gpu/**/*.ts', ['model', 'text', 'ort', 'io', 'eval', 'prune']),
  ...coreLayer('src/core/ort/**/*.ts', ['text', 'io', 'eval', 'prune']),
  ...coreLayer('src/core/io/**/*.ts', ['text', 'gpu', 'eval', 'prune']),
  ...coreLayer('src/core/eval/**/*.ts', ['gpu', 'io', 'prune']),
  ...coreLayer('src/core/prune/**/*.ts', []),
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
