// Named systems (seL4 mq's `-s SYSTEM`, `tml job run --supervisor NAME_OR_ID`): a job tag
// `tml.supervisor:NAME_OR_ID` that only the supervisor of that name or id has. Every supervisor has
// these two tags implicitly, beside the tags it was registered with (docs/switchboard.md).

/** The tag prefix `tml --supervisor` writes; the same as tml/api-ext.ts's. */
export const NAMED_SYSTEM_TAG_PREFIX = 'tml.supervisor:';

/** A supervisor's tags for matching: its own, plus the named-system tags of its name and its id. */
export function matchTags(supervisor: { id: string; name: string }, tags: readonly string[]): Set<string> {
  return new Set([
    ...tags,
    `${NAMED_SYSTEM_TAG_PREFIX}${supervisor.name}`,
    `${NAMED_SYSTEM_TAG_PREFIX}${supervisor.id}`,
  ]);
}
