import { helpTests } from './help-checks.js';

helpTests('tml-switchboard', 'switchboard/cli.js', 'switchboard.md', ['tml-switchboard token rev', 'revoke']);
