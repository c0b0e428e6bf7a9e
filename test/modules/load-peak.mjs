// A child process for the load-memory test: `save <path> <n>` writes a checkpoint with variables
// (n float32 parameters, momentum: three arrays of n in the file); `load <path> <n>` loads it and
// prints how much the process's peak resident memory (VmHWM) grew, next to the arena's size.
import { readFileSync } from 'node:fs';
import { RMSprop, Variable } from '../../dist/src/index.js';

const [mode, path = '', size] = process.argv.slice(2);
const n = Number(size);
const peak = () => Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]) * 1024;
const vars = () => [new Variable('zeros', { shape: [n], name: 'w' })];
if (mode === 'save') {
  const w = new Variable('zeros', { shape: [n], name: 'w' });
  const optimizer = new RMSprop({ momentum: 0.9, workers: 0 });
  optimizer.build([w]);
  w.value.fill(0.5);
  w.grad.fill(0.25);
  await optimizer.step();
  await optimizer.save(path, { variables: true });
  await optimizer.close();
} else {
  const before = peak();
  const variables = vars();
  const optimizer = await RMSprop.load(path, variables, { workers: 0 });
  const grown = peak() - before;
  const values = variables[0]?.value ?? new Float32Array(1);
  const ok = values.every((x) => x === values[0]) && values[0] !== 0.5;
  console.log(JSON.stringify({ grown, arena: optimizer.memoryBytes, ok, iterations: optimizer.iterations }));
  await optimizer.close();
}
