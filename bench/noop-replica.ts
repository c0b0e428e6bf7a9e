/** A replica that computes nothing: what is left of a trainer step is its control plane (comlink calls, staging). */
import type { CreateReplica } from '../src/index.js';

export const createReplica: CreateReplica = () => ({ gradients: () => 0 });
