import { helpTests } from './help-checks.js';

helpTests('tml-puppet', 'puppet/cli.js', 'puppet.md', ['tml-puppet job ru', 'run']);
