import test from 'ava';
import { parseToSupervisorForJob as parseToSupervisor } from '../../protocol/switchboard-ws.js';
import { JOB_ID, startMessage } from '../supervisor/fakes.js';

test('a well-formed start_job parses to the same message', (t) => {
  const msg = { type: 'start_job', message: startMessage() };
  t.deepEqual(parseToSupervisor(JSON.stringify(msg)), { ok: true, message: msg });
});

test('stop_job and status_request parse', (t) => {
  t.like(parseToSupervisor(JSON.stringify({ type: 'stop_job', message: { job_id: JOB_ID } })), { ok: true });
  const req = { type: 'status_request', message: { request_id: JOB_ID, message: null } };
  t.deepEqual(parseToSupervisor(JSON.stringify(req)), { ok: true, message: req });
});

test('invalid JSON is refused with a clear error', (t) => {
  t.deepEqual(parseToSupervisor('{"type":'), { ok: false, error: 'message is not valid JSON' });
});

test('an unknown type is refused', (t) => {
  t.like(parseToSupervisor('{"type":"reboot_everything","message":{}}'), {
    ok: false,
    error: 'message.type must be one of start_job, stop_job, status_request',
  });
});

test('a start_job with a bad image id is refused but keeps its job id so the job can be failed', (t) => {
  const bad = { type: 'start_job', message: { ...startMessage(), image_spec: { type: 'image', image_id: 'nope' } } };
  const result = parseToSupervisor(JSON.stringify(bad));
  t.like(result, { ok: false, jobId: JOB_ID });
  t.regex((result as { error: string }).error, /image_id must be 64 lowercase hex digits/);
});

test('a start_job without a valid job id is refused without one', (t) => {
  const bad = { type: 'start_job', message: { ...startMessage(), job_id: 'x' } };
  const result = parseToSupervisor(JSON.stringify(bad));
  t.false(result.ok);
  t.false('jobId' in result);
});

test('a malformed parameter is refused without echoing its value', (t) => {
  const bad = {
    type: 'start_job',
    message: { ...startMessage(), parameters: { key: { value: 12345, secret: true } } },
  };
  const result = parseToSupervisor(JSON.stringify(bad));
  t.false(result.ok);
  t.false(JSON.stringify(result).includes('12345'));
});
