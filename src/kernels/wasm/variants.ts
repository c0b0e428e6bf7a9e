/**
 * The specialisations of the WebAssembly kernels and how a configuration maps to an export
 * name. Shared by the generator (build time) and the loader (run time), so the two cannot
 * disagree on what an index means.
 */
import type { DType } from '../../dtype.js';

/** One fused update: everything a step does to an element, minus what `bits` leaves out. */
export const UpdateBit = {
  /** grad / lossScaleFactor. */
  Unscale: 1,
  /** (grad + accumulator) / steps, then accumulator = 0. */
  ApplyAccumulated: 2,
  /** Two bits: the ClipMode (Off, Norm, GlobalNorm, Value). */
  ClipShift: 2,
  Decay: 16,
  Centered: 32,
  Momentum: 64,
  Ema: 128,
} as const;
export const UPDATE_VARIANTS = 256;

/** Accumulation-only step: accumulator += grad (/ lossScaleFactor), plus the EMA. */
export const AccumulateBit = { Unscale: 1, Ema: 2 } as const;
export const ACCUMULATE_VARIANTS = 4;

/** Sum of squares of the gradient as the update will see it before clipping. */
export const SumSquaresBit = { Unscale: 1, ApplyAccumulated: 2 } as const;
export const SUM_SQUARES_VARIANTS = 4;

export interface UpdateFlags {
  unscale: boolean;
  applyAccumulated: boolean;
  clip: number;
  decay: boolean;
  centered: boolean;
  momentum: boolean;
  ema: boolean;
}

/** The update specialisation for a configuration (positional, so the hot path allocates nothing). */
export function updateVariant(
  unscale: boolean,
  applyAccumulated: boolean,
  clip: number,
  decay: boolean,
  centered: boolean,
  momentum: boolean,
  ema: boolean,
): number {
  return (
    (unscale ? UpdateBit.Unscale : 0) |
    (applyAccumulated ? UpdateBit.ApplyAccumulated : 0) |
    (clip << UpdateBit.ClipShift) |
    (decay ? UpdateBit.Decay : 0) |
    (centered ? UpdateBit.Centered : 0) |
    (momentum ? UpdateBit.Momentum : 0) |
    (ema ? UpdateBit.Ema : 0)
  );
}

export function updateFlags(variant: number): UpdateFlags {
  return {
    unscale: (variant & UpdateBit.Unscale) !== 0,
    applyAccumulated: (variant & UpdateBit.ApplyAccumulated) !== 0,
    clip: (variant >> UpdateBit.ClipShift) & 3,
    decay: (variant & UpdateBit.Decay) !== 0,
    centered: (variant & UpdateBit.Centered) !== 0,
    momentum: (variant & UpdateBit.Momentum) !== 0,
    ema: (variant & UpdateBit.Ema) !== 0,
  };
}

export type KernelKind = 'update' | 'accumulate' | 'sumSquares';
const KIND_PREFIX: Record<KernelKind, string> = { update: 'u', accumulate: 'a', sumSquares: 's' };

export function exportName(dtype: DType, kind: KernelKind, variant: number): string {
  return `${dtype === 'float32' ? 'f32' : 'f64'}_${KIND_PREFIX[kind]}${variant}`;
}
