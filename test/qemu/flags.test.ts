// The qemu host's TOML file, read into its [qemu] table.
import test from 'ava';
import fc from 'fast-check';
import { ValidationError } from '../../protocol/validation.js';
import { qemuTableFromToml } from '../../supervisor/hosts/qemu/flags.js';

test('invalid TOML is one error naming the file', (t) => {
  t.throws(() => qemuTableFromToml('[qemu\nx=', 'bad.toml'), {
    instanceOf: ValidationError,
    message: /^bad\.toml: not valid TOML/,
  });
});

test('any TOML text gives a [qemu] table or a ValidationError', (t) => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.string(),
        fc.string().map((s) => `[qemu]\n${s}`),
      ),
      (text) => {
        try {
          qemuTableFromToml(text, 'f.toml');
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
        }
      },
    ),
  );
  t.pass();
});
