/**
 * The shard index of a sharded checkpoint (`model.safetensors.index.json`), validated: which shard
 * holds each tensor, and the shards in order.
 */
import { TrimError } from '../errors';

/** The shard index (`model.safetensors.index.json`) validated: tensor → shard, and the shards in order. */
export interface ShardIndex {
  weightMap: [tensor: string, shard: string][];
  files: string[];
}

/** Validates a parsed `model.safetensors.index.json`. Exported for fuzz tests. */
export function parseIndex(raw: unknown, where: string): ShardIndex {
  const bad = (what: string): TrimError => new TrimError('E_SAFETENSORS', `${where}: ${what}`);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw bad('is not a JSON object.');
  const wm = (raw as Record<string, unknown>).weight_map;
  if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) throw bad('has no "weight_map" object.');
  const weightMap: [string, string][] = [];
  const files: string[] = [];
  const seen = new Set<string>();
  for (const [name, f] of Object.entries(wm as Record<string, unknown>)) {
    if (typeof f !== 'string') throw bad(`"weight_map" maps "${name}" to ${JSON.stringify(f)}, not a shard file name.`);
    if (f === '' || f.includes('/') || f.includes('\\') || f.startsWith('.') || f.includes('\0') || !f.endsWith('.safetensors')) {
      throw bad(`shard name ${JSON.stringify(f)} must be a plain *.safetensors file name in the folder.`);
    }
    weightMap.push([name, f]);
    if (!seen.has(f)) {
      seen.add(f);
      files.push(f);
    }
  }
  if (weightMap.length === 0) throw bad('"weight_map" is empty.');
  return { weightMap, files };
}
