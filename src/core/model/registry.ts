/**
 * The model families described by a spec (model/family.ts), one file each under
 * model/families/. Adding a family: write its spec file and list it here (README: "Adding a
 * model family"). The order is the order `Supported: …` lists them in errors.
 */
import type { Family } from '../../contract';
import type { FamilySpec } from './family';
import { gemma2 } from './families/gemma2';
import { llama } from './families/llama';
import { mistral } from './families/mistral';
import { opt } from './families/opt';
import { qwen2 } from './families/qwen2';
import { gemma3 } from './families/gemma3';
import { phi3 } from './families/phi3';
import { qwen3 } from './families/qwen3';

export const FAMILY_SPECS: readonly FamilySpec[] = [llama, qwen2, mistral, opt, qwen3, gemma2, gemma3, phi3];

export function familySpec(family: Family): FamilySpec | null {
  return FAMILY_SPECS.find((s) => s.family === family) ?? null;
}
