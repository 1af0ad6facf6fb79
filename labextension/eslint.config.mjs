// ESLint for the sidebar's TypeScript: correctness rules only. Layout is Prettier's (.prettierrc):
// eslint-config-prettier turns off every rule that would disagree with it, and the rules set after it
// (curly 'all' among them) are ones that cannot.
import { fileURLToPath, URL } from 'node:url';

import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import react from 'eslint-plugin-react';
import reactHooks from 'eslint-plugin-react-hooks';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig([
  // The .js files are CommonJS tool configs (jest, babel) and the style entry; ui-tests has its own package.
  { ignores: ['lib/', 'node_modules/', 'coverage/', 'ui-tests/', '**/*.js'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    files: ['**/*.{ts,tsx}'],
    languageOptions: {
      parserOptions: {
        // tsconfig.test.json covers src/ and its specs; tsconfig.json leaves the specs out.
        project: './tsconfig.test.json',
        tsconfigRootDir: fileURLToPath(new URL('.', import.meta.url))
      }
    }
  },
  {
    files: ['**/*.tsx'],
    ...react.configs.flat.recommended,
    settings: { react: { version: 'detect' } }
  },
  reactHooks.configs.flat.recommended,
  { files: ['**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] },
  prettier,
  {
    rules: {
      // The code reads server JSON through deliberate `any` at that boundary (tolerant parsers such as
      // parseMetrics) and in test doubles; narrowing every read would add noise, not safety.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      // Test doubles implement async interfaces with async methods that have nothing to await.
      '@typescript-eslint/require-await': 'off',
      // `_name` marks a binding kept on purpose (a compile-time check, a key left out of a rest copy).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', ignoreRestSiblings: true }],
      // Interfaces take the I prefix, as scripts/make_event_types.py writes them too.
      '@typescript-eslint/naming-convention': [
        'error',
        { selector: 'interface', format: ['PascalCase'], custom: { regex: '^I[A-Z]', match: true } }
      ],
      curly: ['error', 'all'],
      eqeqeq: ['error', 'always']
    }
  }
]);
