/**
 * Reading config.json keys: typed numbers with clear errors, and the rotary parameters (old
 * `rope_theta`/`rope_scaling` and new `rope_parameters` keys). Shared by config.ts and the family
 * specs (model/families/*), so that neither imports the other at run time.
 */
import type { RopeScaling } from './config';
import { TrimError } from '../errors';
import { inverseFrequencies } from './rope';

export function cfgError(where: string, what: string): TrimError {
  return new TrimError('E_CONFIG', `${where}: ${what}`);
}

export function num(c: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = c[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw cfgError(where, `"${key}" is missing; it is required for this architecture.`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v)) throw cfgError(where, `"${key}" must be a number, got ${JSON.stringify(v)}.`);
  return v;
}

export function posInt(c: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = num(c, key, where, fallback);
  if (!Number.isSafeInteger(v) || v <= 0 || v > 1 << 26) throw cfgError(where, `"${key}" must be a positive integer, got ${v}.`);
  return v;
}

export function positive(c: Record<string, unknown>, key: string, where: string, fallback?: number): number {
  const v = num(c, key, where, fallback);
  if (!(v > 0)) throw cfgError(where, `"${key}" must be positive, got ${v}.`);
  return v;
}

/**
 * What the numbers mean, beyond their types: the rotary tables must be finite over every
 * position (a tiny theta or scaling factor overflows float32 to Inf, and cos(Inf) is NaN), and
 * llama3 scaling divides by high_freq_factor − low_freq_factor.
 */
export function checkRope(rope: { theta: number; scaling: RopeScaling }, headDim: number, maxPositions: number, where: string): void {
  const s = rope.scaling;
  if (s.type === 'llama3' && !(s.highFreqFactor > s.lowFreqFactor)) {
    throw cfgError(where, `rope scaling llama3 needs high_freq_factor > low_freq_factor, got ${s.highFreqFactor} and ${s.lowFreqFactor}.`);
  }
  const inv = inverseFrequencies(rope.theta, headDim, s);
  const bad = inv.findIndex((f) => !(Number.isFinite(f) && f > 0 && Number.isFinite(Math.fround(maxPositions * f))));
  if (bad >= 0) {
    throw cfgError(
      where,
      `rope_theta ${rope.theta}${s.type !== 'default' ? ` with ${s.type} scaling` : ''} gives rotary frequency ${inv[bad]} (index ${bad}), which is not finite and positive over ${maxPositions} positions.`,
    );
  }
}

export function parseRope(c: Record<string, unknown>, where: string): { theta: number; scaling: RopeScaling } {
  const params = (c.rope_parameters ?? null) as Record<string, unknown> | null;
  const legacy = (c.rope_scaling ?? null) as Record<string, unknown> | null;
  if (params !== null && (typeof params !== 'object' || Array.isArray(params)))
    throw cfgError(where, '"rope_parameters" must be an object.');
  if (legacy !== null && (typeof legacy !== 'object' || Array.isArray(legacy)))
    throw cfgError(where, '"rope_scaling" must be an object or null.');
  const theta = params && params.rope_theta !== undefined ? num(params, 'rope_theta', where) : num(c, 'rope_theta', where, 10000);
  if (!(theta > 0)) throw cfgError(where, `"rope_theta" must be positive, got ${theta}: the rotary frequencies are theta^(-2i/d).`);
  const s = params ?? legacy ?? {};
  const type = String(s.rope_type ?? s.type ?? 'default');
  const maxPos = Number(c.max_position_embeddings ?? 0);
  switch (type) {
    case 'default':
      return { theta, scaling: { type: 'default' } };
    case 'linear':
      return { theta, scaling: { type: 'linear', factor: positive(s, 'factor', where) } };
    case 'llama3':
      return {
        theta,
        scaling: {
          type: 'llama3',
          factor: positive(s, 'factor', where),
          lowFreqFactor: positive(s, 'low_freq_factor', where),
          highFreqFactor: positive(s, 'high_freq_factor', where),
          originalMaxPositions: posInt(s, 'original_max_position_embeddings', where),
        },
      };
    case 'dynamic':
      return {
        theta,
        scaling: {
          type: 'dynamic',
          factor: positive(s, 'factor', where),
          originalMaxPositions: posInt(
            s,
            'original_max_position_embeddings',
            where,
            Number.isSafeInteger(maxPos) && maxPos > 0 ? maxPos : undefined,
          ),
        },
      };
    default:
      throw cfgError(where, `rotary scaling "${type}" is not supported (supported: default, linear, llama3, dynamic).`);
  }
}
