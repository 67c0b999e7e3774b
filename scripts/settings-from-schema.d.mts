// Types of scripts/settings-from-schema.mjs for the tests that import it.
type Entry = Record<string, unknown>;
export const RENAMED: Record<string, string>;
export const ENCODED: Record<string, string>;
export function settingsFrom(settings: Record<string, Entry>, props: Record<string, Entry>): Record<string, Entry>;
