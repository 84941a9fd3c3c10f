// Lint rules for the whole workspace. The module-boundary rule reads the Nx project graph
// (tags in each package.json) so that edge code (agent, firmware-sim) can never import cloud code.
import js from '@eslint/js';
import nx from '@nx/eslint-plugin';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/dist-tools/**', '**/node_modules/**', '.nx/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  prettier,
  {
    files: ['**/*.ts'],
    plugins: { '@nx': nx },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@nx/enforce-module-boundaries': [
        'error',
        {
          enforceBuildableLibDependency: false,
          allow: [],
          depConstraints: [
            { sourceTag: 'scope:shared', onlyDependOnLibsWithTags: ['scope:shared'] },
            { sourceTag: 'scope:edge', onlyDependOnLibsWithTags: ['scope:edge', 'scope:shared'] },
            { sourceTag: 'scope:cloud', onlyDependOnLibsWithTags: ['scope:cloud', 'scope:shared'] },
            { sourceTag: 'type:lib', notDependOnLibsWithTags: ['type:app', 'type:test'] },
            { sourceTag: 'type:app', notDependOnLibsWithTags: ['type:app'] },
            // End-to-end tests drive every process through its CLI and may use any library.
            { sourceTag: 'type:e2e', onlyDependOnLibsWithTags: ['*'] },
          ],
        },
      ],
    },
  },
  {
    // Nothing deep in the code reads process.env: configuration is read once, in apps and scripts.
    files: ['libs/**/src/**/*.ts'],
    ignores: ['libs/testing/**'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'process',
          property: 'env',
          message: 'Libraries take configuration as arguments; read process.env only in apps/scripts.',
        },
      ],
    },
  },
);
