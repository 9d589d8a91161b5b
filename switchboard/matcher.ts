// Which supervisor may run which job: tags. A job's tag_config is `;`-separated tags; it may run
// on a supervisor whose tag set holds every one of them.

/** The tags of a `;`-separated tag_config; blanks are ignored. */
export function parseTags(tagConfig: string): string[] {
  return tagConfig
    .split(';')
    .map((t) => t.trim())
    .filter((t) => t !== '');
}

/** A job may run on a supervisor whose tag set contains all of the job's tags. */
export function tagsMatch(jobTags: readonly string[], supervisorTags: ReadonlySet<string>): boolean {
  return jobTags.every((t) => supervisorTags.has(t));
}
