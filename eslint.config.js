// Lint rules for the whole package, and the direction of dependencies between its folders:
// every component may use protocol/; the supervisor may also use imagetool's index.ts; nothing
// else crosses a folder, and protocol/ imports nothing of ours.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const COMPONENTS = ['imagetool', 'puppet', 'supervisor', 'switchboard', 'tml'];

/** Import patterns that reach into `name`'s folder from outside it. */
const into = (name) => [`**/${name}/*`, `**/${name}/**`, `../${name}`, `../../${name}`];

function layering(folder, allowed) {
  const forbidden = COMPONENTS.filter((c) => c !== folder && !allowed.includes(c));
  const patterns = [];
  if (forbidden.length > 0) {
    patterns.push({ group: forbidden.flatMap(into), message: `${folder}/ may not import this component (see README, "How the pieces fit")` });
  }
  for (const a of allowed) {
    patterns.push({ group: [`**/${a}/*`, `!**/${a}/index.js`], message: `${folder}/ may use ${a}/ only through its index.ts` });
  }
  return {
    files: [`${folder}/**/*.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.bench/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
      // Parsers of untrusted text match control characters on purpose.
      'no-control-regex': 'off',
    },
  },
  {
    // the installed launchers: CommonJS, so that a command starts without Node's ES module loader
    files: ['bin/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: { require: 'readonly', module: 'writable', __dirname: 'readonly', process: 'readonly', URL: 'readonly' },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['protocol/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: COMPONENTS.flatMap(into), message: 'protocol/ imports nothing of ours: it is the layer every component stands on' }] },
      ],
    },
  },
  layering('imagetool', []),
  layering('puppet', []),
  layering('supervisor', ['imagetool']),
  layering('switchboard', []),
  layering('tml', []),
);
