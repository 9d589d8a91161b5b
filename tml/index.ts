// Public surface of the user's client: the typed REST client and how outcomes map to exit codes.

export { SwitchboardClient } from './client.js';
export { ApiError, NetworkError, BadAnswerError } from './errors.js';
export { EXIT_CODES as TML_EXIT_CODES, exitCodeFor, bookName } from './outcome.js';
