// Golden frames: the exact JSON of every message type, as the spec spells it. Each one must
// encode to these bytes, and validate back to the same message.
import test from 'ava';
import { attempt } from '../../../protocol/validation.js';
import { encodeFrame } from '../../../protocol/control-socket/framing.js';
import {
  ControlMessageError,
  parsePuppetMessage,
  parseSupervisorMessage,
  type PuppetMessage,
  type SupervisorMessage,
} from '../../../protocol/control-socket/messages.js';

const puppetGolden: Array<[string, PuppetMessage]> = [
  ['{"request_id":0,"request":{"type":"ping"}}', { request_id: 0, request: { type: 'ping' } }],
  ['{"request_id":1,"request":{"type":"jobinfo"}}', { request_id: 1, request: { type: 'jobinfo' } }],
  ['{"request_id":2,"request":{"type":"sshkeys"}}', { request_id: 2, request: { type: 'sshkeys' } }],
  ['{"request_id":3,"request":{"type":"networkconfig"}}', { request_id: 3, request: { type: 'networkconfig' } }],
  ['{"request_id":4,"request":{"type":"parameters"}}', { request_id: 4, request: { type: 'parameters' } }],
  // what late-2024 puppets ask instead of jobinfo
  ['{"request_id":5,"request":{"type":"jobid"}}', { request_id: 5, request: { type: 'jobid' } }],
  // extension: the capability request
  ['{"request_id":6,"request":{"type":"extensions"}}', { request_id: 6, request: { type: 'extensions' } }],
  ['{"puppet_event_id":0,"event":{"type":"ready"}}', { puppet_event_id: 0, event: { type: 'ready' } }],
  [
    '{"puppet_event_id":1,"event":{"type":"shutdown","supervisor_event_id":7}}',
    { puppet_event_id: 1, event: { type: 'shutdown', supervisor_event_id: 7 } },
  ],
  [
    '{"puppet_event_id":2,"event":{"type":"reboot","supervisor_event_id":null}}',
    { puppet_event_id: 2, event: { type: 'reboot', supervisor_event_id: null } },
  ],
  [
    '{"puppet_event_id":3,"event":{"type":"runcommanderror","supervisor_event_id":4,"error":"No such file or directory"}}',
    {
      puppet_event_id: 3,
      event: { type: 'runcommanderror', supervisor_event_id: 4, error: 'No such file or directory' },
    },
  ],
  [
    '{"puppet_event_id":4,"event":{"type":"runcommandoutput","supervisor_event_id":4,"output":[104,105,10],"stream":"stdout"}}',
    {
      puppet_event_id: 4,
      event: { type: 'runcommandoutput', supervisor_event_id: 4, output: [104, 105, 10], stream: 'stdout' },
    },
  ],
  [
    '{"puppet_event_id":5,"event":{"type":"runcommandoutput","supervisor_event_id":4,"output":[],"stream":"stderr"}}',
    { puppet_event_id: 5, event: { type: 'runcommandoutput', supervisor_event_id: 4, output: [], stream: 'stderr' } },
  ],
  [
    '{"puppet_event_id":6,"event":{"type":"runcommandexitcode","supervisor_event_id":4,"exit_code":0,"killed":false}}',
    { puppet_event_id: 6, event: { type: 'runcommandexitcode', supervisor_event_id: 4, exit_code: 0, killed: false } },
  ],
  [
    '{"puppet_event_id":7,"event":{"type":"runcommandexitcode","supervisor_event_id":5,"exit_code":null,"killed":true}}',
    {
      puppet_event_id: 7,
      event: { type: 'runcommandexitcode', supervisor_event_id: 5, exit_code: null, killed: true },
    },
  ],
  [
    '{"puppet_event_id":8,"event":{"type":"terminatejob","supervisor_event_id":null}}',
    { puppet_event_id: 8, event: { type: 'terminatejob', supervisor_event_id: null } },
  ],
  [
    '{"puppet_event_id":9,"event":{"type":"declareworkloadexitstatus","workload_exit_status":"success","workload_output":"all 12 tests passed"}}',
    {
      puppet_event_id: 9,
      event: {
        type: 'declareworkloadexitstatus',
        workload_exit_status: 'success',
        workload_output: 'all 12 tests passed',
      },
    },
  ],
  [
    '{"puppet_event_id":10,"event":{"type":"declareworkloadexitstatus","workload_exit_status":"error","workload_output":null}}',
    {
      puppet_event_id: 10,
      event: { type: 'declareworkloadexitstatus', workload_exit_status: 'error', workload_output: null },
    },
  ],
  [
    '{"puppet_event_id":11,"event":{"type":"declareworkloadexitstatus","workload_exit_status":"unknown","workload_output":null}}',
    {
      puppet_event_id: 11,
      event: { type: 'declareworkloadexitstatus', workload_exit_status: 'unknown', workload_output: null },
    },
  ],
  [
    '{"puppet_event_id":12,"event":{"type":"reportsubstate","substate":"flashing board"}}',
    { puppet_event_id: 12, event: { type: 'reportsubstate', substate: 'flashing board' } },
  ],
];

const JOB = 'a7f0f5a4-4e5b-4c1e-9a0e-3f6b2d1c0e9f';
const HOST = '0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d';

const supervisorGolden: Array<[string, SupervisorMessage]> = [
  ['{"request_id":0,"response":{"type":"pingresp"}}', { request_id: 0, response: { type: 'pingresp' } }],
  [
    `{"request_id":1,"response":{"type":"jobinfo","job_id":"${JOB}","host_id":"${HOST}"}}`,
    { request_id: 1, response: { type: 'jobinfo', job_id: JOB, host_id: HOST } },
  ],
  [
    '{"request_id":2,"response":{"type":"sshkeysresp","ssh_keys":["ssh-ed25519 AAAAC3Nza user@laptop"]}}',
    { request_id: 2, response: { type: 'sshkeysresp', ssh_keys: ['ssh-ed25519 AAAAC3Nza user@laptop'] } },
  ],
  [
    '{"request_id":3,"response":{"type":"networkconfig","hostname":"board-1","interface":"eth0",' +
      '"ipv4":{"address":"10.0.0.2","prefix_length":24,"gateway":"10.0.0.1","nameservers":["10.0.0.1","9.9.9.9"]},"ipv6":null}}',
    {
      request_id: 3,
      response: {
        type: 'networkconfig',
        hostname: 'board-1',
        interface: 'eth0',
        ipv4: { address: '10.0.0.2', prefix_length: 24, gateway: '10.0.0.1', nameservers: ['10.0.0.1', '9.9.9.9'] },
        ipv6: null,
      },
    },
  ],
  [
    '{"request_id":7,"response":{"type":"networkconfig","hostname":"h","interface":null,"ipv4":null,' +
      '"ipv6":{"address":"fd00::2","prefix_length":64,"gateway":null,"nameservers":[]}}}',
    {
      request_id: 7,
      response: {
        type: 'networkconfig',
        hostname: 'h',
        interface: null,
        ipv4: null,
        ipv6: { address: 'fd00::2', prefix_length: 64, gateway: null, nameservers: [] },
      },
    },
  ],
  [
    '{"request_id":4,"response":{"type":"parameters","parameters":{"board":{"value":"nrf52840dk","secret":false},"token":{"value":"s3cr3t","secret":true}}}}',
    {
      request_id: 4,
      response: {
        type: 'parameters',
        parameters: { board: { value: 'nrf52840dk', secret: false }, token: { value: 's3cr3t', secret: true } },
      },
    },
  ],
  [
    '{"request_id":5,"response":{"type":"unsupportedrequest"}}',
    { request_id: 5, response: { type: 'unsupportedrequest' } },
  ],
  ['{"request_id":6,"response":{"type":"jobnotfound"}}', { request_id: 6, response: { type: 'jobnotfound' } }],
  [
    `{"request_id":8,"response":{"type":"jobid","job_id":"${JOB}"}}`,
    { request_id: 8, response: { type: 'jobid', job_id: JOB } },
  ],
  [
    '{"request_id":9,"response":{"type":"extensions","extensions":["declareworkloadexitstatus","reportsubstate"]}}',
    {
      request_id: 9,
      response: { type: 'extensions', extensions: ['declareworkloadexitstatus', 'reportsubstate'] },
    },
  ],
  [
    '{"supervisor_event_id":0,"event":{"type":"sshkeysupdated"}}',
    { supervisor_event_id: 0, event: { type: 'sshkeysupdated' } },
  ],
  [
    '{"supervisor_event_id":1,"event":{"type":"shutdownreq"}}',
    { supervisor_event_id: 1, event: { type: 'shutdownreq' } },
  ],
  ['{"supervisor_event_id":2,"event":{"type":"rebootreq"}}', { supervisor_event_id: 2, event: { type: 'rebootreq' } }],
  [
    '{"supervisor_event_id":3,"event":{"type":"runcommand","cmdline":[108,115],"environment":[[[65],[49]]]}}',
    { supervisor_event_id: 3, event: { type: 'runcommand', cmdline: [108, 115], environment: [[[65], [49]]] } },
  ],
  [
    '{"supervisor_event_id":4,"event":{"type":"killcommand","supervisor_event_id":3}}',
    { supervisor_event_id: 4, event: { type: 'killcommand', supervisor_event_id: 3 } },
  ],
  ['{"message":"invalid message: frame is not valid JSON"}', { message: 'invalid message: frame is not valid JSON' }],
];

function frameOf(json: string): Buffer {
  const body = Buffer.from(json, 'utf8');
  const header = Buffer.alloc(4);
  header.writeUInt32BE(body.length);
  return Buffer.concat([header, body]);
}

for (const [json, message] of puppetGolden) {
  const label =
    'request' in message
      ? `request ${message.request.type}`
      : `event ${message.event.type} #${message.puppet_event_id}`;
  test(`puppet ${label} encodes to the spec's JSON and validates back`, (t) => {
    t.deepEqual(encodeFrame(message), frameOf(json));
    const parsed = attempt(() => parsePuppetMessage(JSON.parse(json)));
    t.deepEqual(parsed, { ok: true, value: message });
    if (parsed.ok) t.is(JSON.stringify(parsed.value), json);
  });
}

for (const [json, message] of supervisorGolden) {
  const label =
    'response' in message
      ? `response ${message.response.type} #${message.request_id}`
      : 'event' in message
        ? `event ${message.event.type}`
        : 'generic error message';
  test(`supervisor ${label} encodes to the spec's JSON and validates back`, (t) => {
    t.deepEqual(encodeFrame(message), frameOf(json));
    const parsed = attempt(() => parseSupervisorMessage(JSON.parse(json)));
    t.true(parsed.ok);
    if (parsed.ok) t.is(JSON.stringify(parsed.value), json);
  });
}

test('every puppet event and request type of the spec has a golden frame', (t) => {
  const types = new Set(puppetGolden.map(([, m]) => ('request' in m ? `req:${m.request.type}` : `ev:${m.event.type}`)));
  for (const r of ['ping', 'jobinfo', 'jobid', 'sshkeys', 'networkconfig', 'parameters', 'extensions'])
    t.true(types.has(`req:${r}`), r);
  for (const e of [
    'ready',
    'shutdown',
    'reboot',
    'runcommanderror',
    'runcommandoutput',
    'runcommandexitcode',
    'terminatejob',
    'declareworkloadexitstatus',
    'reportsubstate',
  ])
    t.true(types.has(`ev:${e}`), e);
});

test('every supervisor response and event type of the spec has a golden frame', (t) => {
  const types = new Set(
    supervisorGolden.map(([, m]) =>
      'response' in m ? `resp:${m.response.type}` : 'event' in m ? `ev:${m.event.type}` : 'message',
    ),
  );
  for (const r of [
    'pingresp',
    'jobinfo',
    'sshkeysresp',
    'networkconfig',
    'parameters',
    'unsupportedrequest',
    'jobnotfound',
    'jobid',
    'extensions',
  ]) {
    t.true(types.has(`resp:${r}`), r);
  }
  for (const e of ['sshkeysupdated', 'shutdownreq', 'rebootreq', 'runcommand', 'killcommand'])
    t.true(types.has(`ev:${e}`), e);
  t.true(types.has('message'));
});

test("a 2026 supervisor's jobinfo, with its gateway, validates to the job and host ids", (t) => {
  const parsed = attempt(() =>
    parseSupervisorMessage({
      request_id: 1,
      response: {
        type: 'jobinfo',
        job_id: JOB,
        host_id: HOST,
        gateway: { issuer: 'https://x', signing_public_key: 'k', key_id: 'i', endpoints: [] },
      },
    }),
  );
  t.deepEqual(parsed, {
    ok: true,
    value: { request_id: 1, response: { type: 'jobinfo', job_id: JOB, host_id: HOST } },
  });
});

test('validators ignore unknown extra keys, as serde does', (t) => {
  const parsed = attempt(() =>
    parsePuppetMessage({ puppet_event_id: 1, event: { type: 'ready', extra: 1 }, more: true }),
  );
  t.deepEqual(parsed, { ok: true, value: { puppet_event_id: 1, event: { type: 'ready' } } });
});

test('an unknown event type is reported as unknown, not as garbage', (t) => {
  const parsed = attempt(() => parsePuppetMessage({ puppet_event_id: 1, event: { type: 'teleport' } }));
  t.like(parsed, { ok: false, error: { unknownType: true } });
  const fromSupervisor = attempt(() =>
    parseSupervisorMessage({ supervisor_event_id: 1, event: { type: 'selfdestruct' } }),
  );
  t.like(fromSupervisor, { ok: false, error: { unknownType: true } });
});

test('an unknown request type still carries its request id so it can be answered', (t) => {
  t.like(
    attempt(() => parsePuppetMessage({ request_id: 9, request: { type: 'coffee' } })),
    {
      ok: false,
      error: { unknownType: true, requestId: 9 },
    },
  );
});

test('malformed messages are rejected with a message naming the field', (t) => {
  const cases: Array<[unknown, RegExp]> = [
    [[1, 2], /object/],
    [{ puppet_event_id: -1, event: { type: 'ready' } }, /puppet_event_id/],
    [
      {
        puppet_event_id: 1,
        event: { type: 'runcommandoutput', supervisor_event_id: 1, output: [256], stream: 'stdout' },
      },
      /byte/,
    ],
    [
      { puppet_event_id: 1, event: { type: 'runcommandoutput', supervisor_event_id: 1, output: [1], stream: 'stdin' } },
      /stream/,
    ],
    [
      {
        puppet_event_id: 1,
        event: { type: 'declareworkloadexitstatus', workload_exit_status: 'meh', workload_output: null },
      },
      /workload_exit_status/,
    ],
    [
      {
        puppet_event_id: 1,
        event: { type: 'runcommandexitcode', supervisor_event_id: 1, exit_code: 1.5, killed: false },
      },
      /exit_code/,
    ],
    [{ hello: 1 }, /neither/],
  ];
  for (const [value, pattern] of cases) {
    const parsed = attempt(() => parsePuppetMessage(value));
    t.false(parsed.ok);
    if (!parsed.ok) {
      t.like(parsed.error, { unknownType: false });
      t.true(parsed.error instanceof ControlMessageError);
      t.regex(parsed.error.message, pattern);
    }
  }
});
