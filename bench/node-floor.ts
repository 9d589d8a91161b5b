// The environment our benchmarks run commands in, for a fair Node floor. Variables that make every
// Node process do work at start-up, `node -e 0` as much as our CLIs: NODE_EXTRA_CA_CERTS has Node
// read and parse a certificate bundle before any code runs (about 90 ms on this machine, more than
// Node's own start-up), which would hide our CLIs' cost in a larger floor, and would charge our
// CLIs a cost that the native tools they are compared with (openssl, dd) never pay.

/** The variables that raise every Node process's start-up cost. */
export const FLOOR_RAISING = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];

/** The environment without FLOOR_RAISING and without any TML_ setting. */
export function benchEnv(): NodeJS.ProcessEnv {
  return Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('TML_') && !FLOOR_RAISING.includes(k)),
  );
}

/** The line a report ends with when this environment set any of FLOOR_RAISING, else ''. */
export function droppedNote(): string {
  const dropped = FLOOR_RAISING.filter((k) => process.env[k] !== undefined);
  return dropped.length === 0
    ? ''
    : `\n(commands ran without ${dropped.join(' and ')}, which this environment sets: see bench/node-floor.ts)\n`;
}
