/**
 * The replica module of `npm run example:data-parallel`: the spiral MLP of mlp.ts, its forward
 * and backward pass in plain JS over the optimizer's shared weights, each micro-batch's
 * gradients written straight into the shard views it is handed. Targets are class indices.
 */
import type { CreateReplica } from 'rmsprop-pool';
import { lossAndGradients, Scratch, type Layer } from './mlp.js';

export const createReplica: CreateReplica = ({ variables }) => {
  // variables are [kernel, bias] per layer, as the example lists them
  const layers: Layer[] = [];
  for (let i = 0; i < variables.length; i += 2) {
    const [inputs, outputs] = variables[i]!.shape as [number, number];
    layers.push({ kernel: variables[i]!.value, bias: variables[i + 1]!.value, inputs, outputs });
  }
  let scratch: Scratch | null = null; // sized for the micro-batch's rows, once
  return {
    gradients({ inputs, targets, rows }, grads) {
      if (scratch?.rows !== rows) scratch = new Scratch(layers, rows);
      const perLayer = layers.map((_, k) => ({ kernel: grads[2 * k]!, bias: grads[2 * k + 1]! }));
      return lossAndGradients(scratch, perLayer, inputs, targets).loss;
    },
  };
};
