/**
 * The TRIM evaluation of one linear layer as an ONNX graph. The weight W [out, in], its row order
 * (rank of each weight within its row by ascending score) and the calibration inputs X [n, in]
 * are initializers: they stay inside the session, so a search step sends only the sparsity
 * vector s [out] and receives the row metric q [out] and the layer metric Q.
 *
 *   k = floor(in · s)            weights pruned per row
 *   Wp = W where rank ≥ k, else 0
 *   Y = W Xᵀ, Yp = Wp Xᵀ         [out, n], then float64 for the metrics (as the reference does)
 */
import type { LayerMetric, RowMetric } from '../../contract';
import { GraphBuilder, T } from '../ort/graphs/builder';
import { keepFromRanksOps, prunedCountsOps } from './scores';

export interface TrimEvalInputs {
  W: Float32Array;
  rank: Float32Array;
  X: Float32Array;
  rows: number;
  cols: number;
  samples: number;
}

export function buildTrimEvalGraph(d: TrimEvalInputs, layerMetric: LayerMetric, rowMetric: RowMetric): Uint8Array {
  const g = new GraphBuilder('trim_eval');
  const s = g.input('s', T.FLOAT, [d.rows]);
  const W = g.initFloat('W', d.W, [d.rows, d.cols]);
  const rank = g.initFloat('rank', d.rank, [d.rows, d.cols]);
  const X = g.initFloat('X', d.X, [d.samples, d.cols]);
  const keep = keepFromRanksOps(g, rank, prunedCountsOps(g, s, d.cols));
  const Wp = g.op('Where', [keep, W, g.float([0], [])]);
  const a = g.op('Cast', [g.op('Gemm', [W, X], { transB: 1 })], { to: T.DOUBLE }); // Y  [out, n]
  const b = g.op('Cast', [g.op('Gemm', [Wp, X], { transB: 1 })], { to: T.DOUBLE }); // Yp [out, n]
  const m = new MetricOps(g, a, b);
  g.output(m.row(rowMetric), 'q', T.DOUBLE);
  g.output(m.layer(layerMetric), 'Q', T.DOUBLE);
  return g.build();
}

/** Metric definitions (TRIM authors' code, restated): a = dense output, b = pruned output. */
export class MetricOps {
  private diff2: string | null = null;

  constructor(
    private readonly g: GraphBuilder,
    private readonly a: string,
    private readonly b: string,
  ) {}

  private c(v: number): string {
    return this.g.double([v], []);
  }

  private sq(): string {
    if (!this.diff2) {
      const d = this.g.op('Sub', [this.a, this.b]);
      this.diff2 = this.g.op('Mul', [d, d]);
    }
    return this.diff2;
  }

  private mean(t: string, axes: number[] | null): string {
    return axes ? this.g.op('ReduceMean', [t], { axes, keepdims: 0 }) : this.g.op('ReduceMean', [t], { keepdims: 0 });
  }

  private log10(t: string): string {
    return this.g.op('Div', [this.g.op('Log', [t]), this.c(Math.log(10))]);
  }

  /** Cosine over `axes` (null = flattened), each norm + 1e-8, clamped to [-1, 1]. */
  private cos(axes: number[] | null): string {
    const g = this.g;
    const sum = (t: string): string =>
      axes ? g.op('ReduceSum', [t, g.int64(axes)], { keepdims: 0 }) : g.op('ReduceSum', [t], { keepdims: 0 });
    const na = g.op('Add', [g.op('Sqrt', [sum(g.op('Mul', [this.a, this.a]))]), this.c(1e-8)]);
    const nb = g.op('Add', [g.op('Sqrt', [sum(g.op('Mul', [this.b, this.b]))]), this.c(1e-8)]);
    const dot = sum(g.op('Mul', [this.a, this.b]));
    return g.op('Clip', [g.op('Div', [dot, g.op('Mul', [na, nb])]), this.c(-1), this.c(1)]);
  }

  /** 10·log10(peak² / (mse + 1e-10)) over `axes` (null = flattened). */
  private psnr(axes: number[] | null): string {
    const g = this.g;
    const a2 = g.op('Mul', [this.a, this.a]);
    const peak = axes ? g.op('ReduceMax', [a2], { axes, keepdims: 0 }) : g.op('ReduceMax', [a2], { keepdims: 0 });
    const mse = this.mean(this.sq(), axes);
    return g.op('Mul', [this.c(10), this.log10(g.op('Div', [peak, g.op('Add', [mse, this.c(1e-10)])]))]);
  }

  row(m: RowMetric): string {
    switch (m) {
      case 'cosim':
        return this.cos([1]);
      case 'mse':
        return this.g.op('Neg', [this.mean(this.sq(), [1])]);
      case 'psnr':
        return this.psnr([1]);
    }
  }

  layer(m: LayerMetric): string {
    const g = this.g;
    switch (m) {
      case 'cosim_flat':
        return this.cos(null);
      case 'cosim_dim':
        return this.mean(this.cos([1]), null);
      case 'cosim_sample':
        return this.mean(this.cos([0]), null);
      case 'mse':
        return g.op('Neg', [this.mean(this.sq(), null)]);
      case 'mse_dim':
        return g.op('Neg', [this.mean(this.mean(this.sq(), [1]), null)]);
      case 'mae':
        return g.op('Neg', [this.mean(g.op('Abs', [g.op('Sub', [this.a, this.b])]), null)]);
      case 'snr': {
        const signal = this.mean(g.op('Mul', [this.a, this.a]), null);
        const noise = this.mean(this.sq(), null);
        const snr = g.op('Mul', [this.c(10), this.log10(g.op('Div', [signal, g.op('Add', [noise, this.c(1e-10)])]))]);
        // A noise power under 1e-10 counts as a perfect reconstruction (+∞), as in the reference.
        return g.op('Where', [g.op('Less', [noise, this.c(1e-10)]), this.c(Infinity), snr]);
      }
      case 'psnr_flat':
        return this.psnr(null);
      case 'psnr_dim':
        return this.mean(this.psnr([1]), null);
      case 'psnr_sample':
        return this.mean(this.psnr([0]), null);
    }
  }
}
