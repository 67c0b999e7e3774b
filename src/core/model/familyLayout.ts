/**
 * What each family calls its pieces (FamilyLayout: tensor names, the linears of a block and the
 * activations that feed them) and the local names and shapes of one block's tensors, from the
 * family's spec (family.ts) and the config.
 */
import type { Family } from '../../contract';
import type { ModelConfig } from './config';
import { familySpec } from './registry';
import type { LinearPart } from './family';

/** What each family calls its pieces. `L` stands for the block index. */
export interface FamilyLayout {
  linears: string[];
  /** Which captured input feeds each linear (same order as `linears`). */
  linearInput: InputGroup[];
  /** Full tensor name of a block's piece, given the local name (e.g. 'self_attn.q_proj.weight'). */
  blockPrefix: string;
  embed: string;
  positions: string | null;
  finalNormWeight: string;
  finalNormBias: string | null;
  lmHead: string;
  /** How fused linears split into parts (same order as `linears`; null: not fused). */
  linearParts: (LinearPart[] | null)[];
}

/** Rows of the learned position table (OPT: max_position_embeddings + its offset 2). */
export function positionTableRows(cfg: ModelConfig): number {
  return cfg.maxPositions + (cfg.features?.positionOffset ?? 0);
}

/**
 * Not a tensor: in a block's float32 map (readBlock), 1 when the block's attention is a sliding
 * window, else 0, for families whose layers differ (ModelConfig.features.layerTypes).
 */
export const LAYER_SLIDING = 'layer.sliding';

/** The four activations that feed the linears of a block. */
export type InputGroup = 'attn_in' | 'o_in' | 'mlp_in' | 'down_in';
export const INPUT_GROUPS: InputGroup[] = ['attn_in', 'o_in', 'mlp_in', 'down_in'];

export function layoutFor(family: Family, prefix: string, cfg: ModelConfig): FamilyLayout {
  const spec = familySpec(family);
  if (!spec) throw new Error(`no family spec for ${family}`);
  const lin = spec.linears(cfg);
  return {
    blockPrefix: `${prefix}layers.L.`,
    embed: `${prefix}embed_tokens.weight`,
    positions: null,
    finalNormWeight: `${prefix}norm.weight`,
    finalNormBias: null,
    lmHead: 'lm_head.weight',
    ...spec.layout?.(prefix),
    linears: lin.map((l) => l.name),
    linearInput: lin.map((l) => l.group),
    linearParts: lin.map((l) => l.parts ?? null),
  };
}

/** Expected local tensor names and shapes of one block (a linear's bias is optional unless its spec requires it). */
export function blockShapes(cfg: ModelConfig): { name: string; shape: number[]; optional?: boolean }[] {
  const spec = familySpec(cfg.family);
  if (!spec) throw new Error(`no family spec for ${cfg.family}`);
  return [
    ...spec.norms(cfg),
    ...spec.linears(cfg).flatMap((l) => [
      { name: `${l.name}.weight`, shape: l.shape },
      { name: `${l.name}.bias`, shape: [l.shape[0]], optional: !l.bias },
    ]),
  ];
}
