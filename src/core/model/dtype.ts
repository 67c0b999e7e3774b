/** Conversions between the stored floating-point formats and float32. */

export type StoredDtype = 'F16' | 'BF16' | 'F32';

export const DTYPE_BYTES: Record<StoredDtype, number> = { F16: 2, BF16: 2, F32: 4 };

let f16Table: Float32Array | null = null;

/** float16 bit pattern → float32 value, for all 65,536 patterns (computed once). */
function half2float(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

function table(): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = half2float(i);
  }
  return f16Table;
}

/** Decode little-endian stored values into a new Float32Array. */
export function toFloat32(bytes: Uint8Array, dtype: StoredDtype): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  // Copy into an aligned buffer first: a Buffer slice may start at any byte offset.
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  if (dtype === 'F32') return new Float32Array(aligned.buffer, 0, n);
  const u16 = new Uint16Array(aligned.buffer, 0, n);
  if (dtype === 'F16') {
    const t = table();
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = t[u16[i]];
    return out;
  }
  // bfloat16 is the top half of a float32.
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = u16[i] << 16;
  return new Float32Array(out.buffer);
}

/** Encode float32 values into the stored format (round to nearest even). */
export function fromFloat32(values: Float32Array, dtype: StoredDtype): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
  const u32 = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  if (dtype === 'BF16') {
    for (let i = 0; i < values.length; i++) {
      const x = u32[i];
      if ((x & 0x7f800000) === 0x7f800000 && x & 0x7fffff) out[i] = (x >>> 16) | 0x40;
      else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
    }
  } else {
    for (let i = 0; i < values.length; i++) out[i] = float2half(values[i]);
  }
  return new Uint8Array(out.buffer);
}

const f32 = new Float32Array(1);
const u32v = new Uint32Array(f32.buffer);

function float2half(v: number): number {
  f32[0] = v;
  const x = u32v[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  return sign | h;
}
