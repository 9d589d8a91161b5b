// The supervisor's edge for texts on their way to the switchboard: whatever a puppet (ours, an
// upstream one, a broken one) or a host reports, each job event leaves with its texts capped, so no
// single event can exceed the switchboard's message limit and lose the status it carries.

import type { JobEvent } from '../protocol/switchboard-ws.js';
import {
  MAX_ERROR_DESCRIPTION_BYTES,
  MAX_STATUS_MESSAGE_BYTES,
  MAX_WORKLOAD_OUTPUT_BYTES,
  capNullableText,
  capText,
} from '../protocol/text-caps.js';

export function capJobEvent(event: JobEvent): JobEvent {
  switch (event.type) {
    case 'state_transition':
      return { ...event, status_message: capNullableText(event.status_message, MAX_STATUS_MESSAGE_BYTES) };
    case 'declare_exit_status':
      return { ...event, host_output: capNullableText(event.host_output, MAX_WORKLOAD_OUTPUT_BYTES) };
    case 'error':
      return {
        ...event,
        error: { ...event.error, description: capText(event.error.description, MAX_ERROR_DESCRIPTION_BYTES) },
      };
    case 'console_log':
      // The console batcher already sends it in pieces the switchboard takes.
      return event;
  }
}
