#!/usr/bin/env node
// `npm run demo`: one job through the whole Treadmill flow on this machine (see docs/demo.md).

import { runDemo } from './demo-flow.js';

function secretLeaks(result: Awaited<ReturnType<typeof runDemo>>): string[] {
  const places: Record<string, string> = { ...result.api, ...result.serviceLogs };
  return Object.entries(places)
    .filter(([, text]) => text.includes(result.secret))
    .map(([name]) => name);
}

/** `npm run demo -- --host qemu`: the only option. */
function hostArg(): 'local' | 'qemu' | null {
  const args = process.argv.slice(2);
  if (args.length === 0) return 'local';
  if (args.length === 2 && args[0] === '--host' && (args[1] === 'local' || args[1] === 'qemu')) return args[1];
  if (args.length === 1 && (args[0] === '--host=local' || args[0] === '--host=qemu'))
    return args[0].slice(7) as 'local' | 'qemu';
  return null;
}

async function main(): Promise<number> {
  const host = hostArg();
  if (host === null) {
    console.error('usage: npm run demo [-- --host local|qemu]');
    return 2;
  }
  const started = Date.now();
  const controller = new AbortController();
  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    const result = await runDemo({ print: (line) => console.log(line), signal: controller.signal, host });
    const leaks = secretLeaks(result);
    console.log('-- checks:');
    console.log(
      `   secret parameter value in client output or service logs: ${leaks.length === 0 ? 'nowhere' : leaks.join(', ')}`,
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (result.waitCode === 0 && leaks.length === 0) {
      console.log(`Demo finished in ${seconds} s: job ${result.jobId} ended WorkloadFinishedSuccess.`);
      return 0;
    }
    console.log(
      `Demo FAILED after ${seconds} s: tml job wait exited ${result.waitCode}${leaks.length > 0 ? '; the secret leaked' : ''}.`,
    );
    return 1;
  } catch (err) {
    if (interrupted) {
      console.error('demo: interrupted; every process it started was stopped');
      return 130;
    }
    console.error(`demo: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

process.exitCode = await main();
