import test from 'ava';
import fc from 'fast-check';
import { ConfigError, parseSupervisorConfig } from '../../supervisor/config.js';

// Upstream's QEMU supervisor example (supervisor/qemu/config.example.toml), abridged: its token is
// written without base64 padding.
const TOKEN_UNPADDED =
  'OCkrhbDMiUG7rY1LlSfywBvgkqb1CyOt0djIgos9QDz6XyIaP+gYB62XJ6HK78ffPtvDVyi9bRj4Fj1xVVyFeixZPW0anU00Lzx3qckiP25Xt5cZbZTXxFKfb6ifHpFi83KwkGZYrsaVcXsf1Lc607CucHnSvZ9+uZUSnhrN4rc';
const UPSTREAM_QEMU = `[base]
supervisor_id = "7d55ec6d-15e7-4b84-8c04-7c085fe60df4"
coord_connector = "ws_connector"

[ws_connector]
token = "${TOKEN_UNPADDED}"
switchboard_uri = "ws://localhost:8081"

[image_store]
# Doesn't do anything yet.
http_endpoint = "https://localhost:8080"
fs_endpoint = "./image-store"

[qemu]
qemu_binary = "qemu-kvm"
qemu_img_binary = "qemu-img"
state_dir = "./state"
qemu_args = ["-name", "tml-{job_id}", "-nographic"]
tcp_control_socket_listen_addr = "0.0.0.0:3859"
working_disk_max_bytes = 34359738368
start_script = "./nix_ovmf-vars_start_script.sh"
`;

const parse = (text: string, hosts: string[] = [], readToken?: (p: string, w: string) => Promise<string>) =>
  parseSupervisorConfig(text, 'sup.toml', hosts, readToken);

test("upstream's QEMU example yields the id, switchboard, token (padded as upstream sends it) and store", async (t) => {
  const c = await parse(UPSTREAM_QEMU);
  t.is(c.supervisorId, '7d55ec6d-15e7-4b84-8c04-7c085fe60df4');
  t.deepEqual(c.switchboardUrls, ['ws://localhost:8081']);
  t.is(c.token, `${TOKEN_UNPADDED}=`);
  t.is(c.storeDir, './image-store');
  t.deepEqual(c.hostSections, {});
  t.is(c.imageMirror, 'https://localhost:8080');
  t.deepEqual(c.notes, ['sup.toml: [qemu] is not used by tml-supervisor; ignored']);
});

test("a host backend's section is handed over as it is", async (t) => {
  const c = await parse(UPSTREAM_QEMU, ['qemu']);
  t.like(c.hostSections.qemu, { qemu_binary: 'qemu-kvm', working_disk_max_bytes: 34359738368 });
  t.false(c.notes.some((n) => n.includes('[qemu]')));
});

test('token_file is read, and wins over token as in upstream', async (t) => {
  const padded = `${TOKEN_UNPADDED}=`;
  const read: string[] = [];
  const c = await parse(
    `[ws_connector]\nswitchboard_uri = "ws://h"\ntoken_file = "/etc/tml/token"\ntoken = "ignored"\n`,
    [],
    async (path) => {
      read.push(path);
      return padded;
    },
  );
  t.deepEqual(read, ['/etc/tml/token']);
  t.is(c.token, padded);
  t.true(c.notes.some((n) => n.includes('token is ignored: token_file is used')));
});

test('switchboard_uri may be an array of URLs (replicas of one switchboard), kept in order', async (t) => {
  const c = await parse('[ws_connector]\nswitchboard_uri = ["ws://sb-1:8081", "ws://sb-2:8081"]\n');
  t.deepEqual(c.switchboardUrls, ['ws://sb-1:8081', 'ws://sb-2:8081']);
});

test('a switchboard_uri string is kept as it is, commas included', async (t) => {
  const c = await parse('[ws_connector]\nswitchboard_uri = "ws://h/a,b"\n');
  t.deepEqual(c.switchboardUrls, ['ws://h/a,b']);
});

const BAD: Array<[string, string, RegExp]> = [
  ['invalid TOML', '[base\n', /^sup\.toml is not valid TOML: /],
  ['a typo in [base]', '[base]\nsupervisor-id = "x"\n', /^\[base\] has unknown key "supervisor-id"/],
  ['an id that is not a UUID', '[base]\nsupervisor_id = "rack-1"\n', /supervisor_id must be a UUID/],
  [
    'another connector',
    '[base]\ncoord_connector = "cli_connector"\n',
    /"cli_connector" is not supported by tml-supervisor/,
  ],
  [
    'a token of the wrong size',
    '[ws_connector]\ntoken = "c2hvcnQ="\n',
    /token is not a supervisor token \(standard base64 of 128 bytes\)/,
  ],
  ['a number where a string belongs', '[image_store]\nfs_endpoint = 5\n', /fs_endpoint must be a non-empty string/],
  [
    'an empty switchboard_uri array',
    '[ws_connector]\nswitchboard_uri = []\n',
    /switchboard_uri must be a non-empty string or a non-empty array of them/,
  ],
  [
    'a number in a switchboard_uri array',
    '[ws_connector]\nswitchboard_uri = ["ws://h", 5]\n',
    /switchboard_uri must be a non-empty string or a non-empty array of them/,
  ],
  ['a section that is not a table', 'base = 5\n', /\[base\] must be a table/],
  ['a typo in [image_store]', '[image_store]\nfs_endpiont = "/s"\n', /unknown key "fs_endpiont"/],
];

for (const [what, text, message] of BAD) {
  test(`${what} is refused with one line`, async (t) => {
    const err = await t.throwsAsync(parse(text), { instanceOf: ConfigError });
    t.regex(err!.message, message);
    t.false(err!.message.includes('\n'));
  });
}

test('any text gives a configuration or a ConfigError, never another exception', async (t) => {
  const keys = [
    'supervisor_id',
    'coord_connector',
    'switchboard_uri',
    'token',
    'token_file',
    'fs_endpoint',
    'qemu_binary',
  ];
  const line = fc.oneof(
    fc.constantFrom('[base]', '[ws_connector]', '[image_store]', '[qemu]', '[[base]]', 'base = 1'),
    fc
      .tuple(fc.constantFrom(...keys), fc.oneof(fc.string(), fc.integer(), fc.boolean()))
      .map(([k, v]) => `${k} = ${JSON.stringify(v)}`),
    fc.string(),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(line, { maxLength: 12 }), async (lines) => {
      try {
        await parse(lines.join('\n'), ['qemu'], async () => {
          throw new ConfigError('no token files here');
        });
      } catch (err) {
        if (!(err instanceof ConfigError)) throw err;
      }
    }),
    { numRuns: 300 },
  );
  t.pass();
});
