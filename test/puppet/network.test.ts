// The network config the supervisor sends, as the network script's environment.
import test from 'ava';
import fc from 'fast-check';
import { networkConfigProblem, networkEnvironment, type NetworkConfigResp } from '../../puppet/network.js';

test('network script environment: only present values, nameservers joined by |', (t) => {
  t.deepEqual(
    networkEnvironment({
      type: 'networkconfig',
      hostname: 'h',
      interface: null,
      ipv4: { address: '10.0.0.2', prefix_length: 8, gateway: null, nameservers: ['a', 'b'] },
      ipv6: null,
    }),
    { HOSTNAME: 'h', IPV4_ADDRESS: '10.0.0.2', IPV4_PREFIX_LENGTH: '8', IPV4_NAMESERVERS: 'a|b' },
  );
});

test('network config: a NUL anywhere is named, any other config is fine, and the check never throws', (t) => {
  const text = fc.string({ unit: 'binary', maxLength: 12 });
  const ip = fc.option(
    fc.record({
      address: text,
      prefix_length: fc.integer({ min: 0, max: 255 }),
      gateway: fc.option(text),
      nameservers: fc.array(text, { maxLength: 3 }),
    }),
  );
  const config = fc.record({
    type: fc.constant('networkconfig' as const),
    hostname: text,
    interface: fc.option(text),
    ipv4: ip,
    ipv6: ip,
  });
  fc.assert(
    fc.property(config, (c: NetworkConfigResp) => {
      const problem = networkConfigProblem(c);
      const hasNul = Object.values(networkEnvironment(c)).some((v) => v.includes('\0'));
      return hasNul ? typeof problem === 'string' && /NUL byte in [A-Z0-9_]+$/.test(problem) : problem === null;
    }),
  );
  t.pass();
});
