// ESLint flat config: typescript-eslint's recommended type-aware rules for the TypeScript,
// the recommended JavaScript rules for the rest; formatting is Prettier's (eslint-config-prettier).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import tseslint from 'typescript-eslint';

const unusedVars = { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' };

export default tseslint.config(
  { ignores: ['dist/', 'docs/', 'node_modules/', 'rmsprop-pool-out/', 'test/.readme/', 'test/fixtures/'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.cts', '**/*.mts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: { project: ['./tsconfig.json', './tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
  },
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    languageOptions: { globals: globals.node },
    rules: { 'no-unused-vars': ['error', unusedVars] },
  },
  // only where typescript-eslint's plugin is loaded: elsewhere the rule's name is unknown and ESLint stops
  { files: ['**/*.ts', '**/*.cts', '**/*.mts'], rules: { '@typescript-eslint/no-unused-vars': ['error', unusedVars] } },
  prettier,
);
