import { helpTests } from './help-checks.js';

helpTests(
  'tml-supervisor',
  'supervisor/cli.js',
  'supervisor.md',
  ['tml-supervisor compl', 'completion'],
  ['qemu-host.md'],
);
