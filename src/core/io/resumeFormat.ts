/**
 * What a resume checkpoint holds (resume.ts writes and loads it): its folder and format, the state
 * in state.json, what this run expects of it (ResumeShape), and the checks its stored values must
 * pass when it is loaded.
 */
import { createHash } from 'node:crypto';
import type { BlockReport, EvalResult, PhaseSeconds } from '../../contract';
import type { Activations } from '../ort/runner';
import type { Fingerprint } from './fingerprint';

export const RESUME_DIR = '.trim-resume';
export const RESUME_FORMAT = 'trim-resume/2';
const FORMAT = RESUME_FORMAT;

export interface ResumeState {
  format: typeof FORMAT;
  fingerprint: Fingerprint;
  /** The first block still to prune (= the number of blocks when only evaluation is left). */
  nextBlock: number;
  targets: number[];
  ratios: number[] | null;
  /** AlphaPruning's per-linear alphas, when allocation = alpha. */
  alphas: number[][] | null;
  dense: EvalResult | null;
  zeros: number;
  weights: number;
  seconds: PhaseSeconds;
  /** The stored inputs of `nextBlock` (batch lengths in floats), null before block 0 and after the last. */
  acts: { file: string; lengths: number[] } | null;
  /** SHA-256 of every other file of the checkpoint (block reports, stored inputs), by name; set by save(). */
  digests?: Record<string, string>;
  /** SHA-256 of state.json's own content without this field; set by save(). */
  sum?: string;
}

export interface Resumed {
  state: ResumeState;
  blocks: BlockReport[];
  /** The inputs of `state.nextBlock`; null when it is 0 (they are the embeddings) or past the last block. */
  acts: Activations | null;
}

/** What a checkpoint of this run must hold: the model's shape and the activations' layout. */
export interface ResumeShape {
  layers: number;
  /** [rows, cols] of each linear of a block. */
  linears: [number, number][];
  /** Floats of each stored batch of activations, in order. */
  actLengths: number[];
}

/** A block's number in the checkpoint's file names (block-0003.json). */
export const pad = (n: number): string => String(n).padStart(4, '0');
/** The phases whose seconds state.json holds. */
export const PHASES: (keyof PhaseSeconds)[] = [
  'load',
  'calibration',
  'allocation',
  'embed',
  'statistics',
  'trim',
  'prune',
  'propagate',
  'write',
  'dense_eval',
  'eval',
  'total',
];

/** Checks of a loaded value's type and range. */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
export const isFrac = (v: unknown): boolean => isNum(v) && v >= 0 && v <= 1;
export const numOrNull = (v: unknown): boolean => v === null || isNum(v);

/** SHA-256 of the concatenated parts (the checksums in state.json). */
export const sha256 = (parts: Uint8Array[]): string => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
};
