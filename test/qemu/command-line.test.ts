// The QEMU command line: templates, the start script's variables, the default arguments.
import test from 'ava';
import fc from 'fast-check';
import {
  defaultQemuArgs,
  parseStartScriptOutput,
  renderArgs,
  renderTemplate,
  sshForwardPort,
  TemplateError,
} from '../../supervisor/hosts/qemu/command-line.js';

test('templates fill variables and keep doubled braces literal', (t) => {
  t.is(renderTemplate('file={job_workdir}/x,{{json}}', { job_workdir: '/w' }), 'file=/w/x,{json}');
});

test('an unknown template variable is an error that lists the known ones', (t) => {
  t.throws(() => renderArgs(['-m', '{memory}'], { job_id: 'j' }), {
    instanceOf: TemplateError,
    message: 'qemu_args[1]: unknown variable {memory} (known: job_id)',
  });
});

test('unbalanced braces are template errors', (t) => {
  t.throws(() => renderTemplate('a{b', {}), { instanceOf: TemplateError });
  t.throws(() => renderTemplate('a}b', {}), { instanceOf: TemplateError });
});

test('any template renders or fails with a TemplateError', (t) => {
  fc.assert(
    fc.property(fc.string(), (s) => {
      try {
        renderTemplate(s, { a: 'x' });
      } catch (err) {
        if (!(err instanceof TemplateError)) throw err;
      }
    }),
  );
  t.pass();
});

test('the start script sets variables with tml-set-variable lines; later ones win, bad ones are reported', (t) => {
  const out = parseStartScriptOutput(
    'noise\ntml-set-variable:usb_hostbus=3\ntml-set-variable:usb_hostbus=4\ntml-set-variable:x=a=b\ntml-set-variable:bad key=1\n',
  );
  t.deepEqual(out.vars, { usb_hostbus: '4', x: 'a=b' });
  t.deepEqual(out.malformed, ['tml-set-variable:bad key=1']);
});

test('the default command line boots UEFI with a per-job variables file, or the kernel directly', (t) => {
  const uefi = defaultQemuArgs({ boot: 'uefi', sshForward: true });
  t.true(uefi.includes('if=pflash,format=raw,file={job_workdir}/OVMF_VARS.fd'));
  t.true(uefi.includes('name=opt/org.tockos.treadmill.tcp-ctrl-socket,string={guest_control_socket_addr}'));
  t.true(uefi.includes('user,id=net0,hostfwd=tcp:{ssh_host}:0-:22'));
  const direct = defaultQemuArgs({ boot: 'direct', sshForward: false });
  t.false(direct.some((a) => a.includes('pflash')));
  t.true(direct.includes('{kernel}'));
  t.true(direct.includes('user,id=net0'));
  // Every variable the backend provides is enough to render both.
  const vars = Object.fromEntries(
    [
      'job_id',
      'job_workdir',
      'main_disk_image',
      'firmware_code',
      'ssh_host',
      'cpus',
      'memory_mib',
      'accel',
      'cpu',
      'guest_control_socket_addr',
      'kernel',
      'initrd',
      'kernel_cmdline',
    ].map((k) => [k, k]),
  );
  t.notThrows(() => renderArgs(uefi, vars));
  t.notThrows(() => renderArgs(direct, vars));
});

test("the SSH forward's host port is read from QMP's info usernet", (t) => {
  const info =
    'Hub -1 (net0):\r\n  Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ\r\n' +
    '  TCP[HOST_FORWARD]   9       127.0.0.1 41979       10.0.2.15    22     0     0\r\n';
  t.is(sshForwardPort(info), 41979);
  t.is(sshForwardPort('Hub -1 (net0):\r\n'), null);
});
