import { helpTests } from './help-checks.js';

helpTests('tml-imagetool', 'imagetool/cli.js', 'imagetool.md', ['tml-imagetool ve', 'verify']);
