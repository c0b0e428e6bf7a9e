/**
 * Worker entry point: one lane of the pool. Runs commands published in the control block until
 * told to exit, or retires after lingering idle (see LaneState in src/pool/protocol.ts). A command
 * that throws rejects this task; the coordinator learns of it from piscina and marks the lane gone.
 */
import { isBuiltinKernels, kernelSet } from '../src/kernels/index.js';
import type { KernelSet } from '../src/kernels/types.js';
import { groupViews } from '../src/memory/arena.js';
import { runPhase } from '../src/pool/phases.js';
import type { LaneTask } from '../src/pool/pool.js';
import { Ctl, laneDoneIndex, laneFailedIndex, laneLaunchIndex, LaneState, Phase } from '../src/pool/protocol.js';

/** Runs the lane; `loadFailure`: its custom kernel module could not be imported (lane-entry.cts). */
export default function runLane(task: LaneTask, loadFailure: Error | null = null): string {
  const { arena, lane, lanes, seq, launch, lingerMs } = task;
  const control = arena.control;
  Atomics.store(control, laneLaunchIndex(lanes, lane), launch); // running: piscina no longer holds it queued
  const kernels = loadFailure ?? laneKernels(task.kernels);
  const views = arena.groups.map(groupViews);
  const state = Ctl.LaneState + lane;
  const done = laneDoneIndex(lanes, lane);
  let seen = seq;
  for (;;) {
    if (Atomics.wait(control, Ctl.Seq, seen, lingerMs) === 'timed-out') {
      if (Atomics.compareExchange(control, state, LaneState.Idle, LaneState.Gone) === LaneState.Idle) return 'retired';
      continue; // reserved: a command is about to be published
    }
    const now = Atomics.load(control, Ctl.Seq);
    if (now === seen) continue;
    seen = now;
    const phase = Atomics.load(control, Ctl.Phase) as Phase;
    if (phase === Phase.Exit) {
      Atomics.store(control, state, LaneState.Gone);
      return 'exited';
    }
    if (Atomics.compareExchange(control, state, LaneState.Reserved, LaneState.Running) !== LaneState.Reserved) {
      return 'revoked'; // the coordinator took this command's share over: this task is done
    }
    try {
      // a lane without its kernels fails the command it began, so the step reports why
      if (kernels instanceof Error) throw kernels;
      if (phase !== Phase.Warm) runPhase(kernels, phase, arena, views, lane);
    } catch (error) {
      // Gone before the count: a coordinator that sees the failure relaunches this lane, never waits on it
      Atomics.store(control, state, LaneState.Gone);
      Atomics.store(control, laneFailedIndex(lanes, lane), seen);
      Atomics.add(control, Ctl.Progress, 1);
      Atomics.notify(control, Ctl.Progress);
      throw error; // piscina rejects the task: the coordinator records the cause
    }
    Atomics.store(control, state, LaneState.Idle);
    Atomics.store(control, done, seen);
    Atomics.add(control, Ctl.Progress, 1);
    Atomics.notify(control, Ctl.Progress);
  }
}

/** For the entry: whether the kernel set `name` is a custom one, whose module the thread imports first. */
export function needsImport(name: string): boolean {
  return !isBuiltinKernels(name);
}

/** The lane's kernel set, or why this thread has none by that name. */
function laneKernels(name: string): KernelSet | Error {
  try {
    return kernelSet(name);
  } catch {
    return new Error(
      `the kernel module ${name} was imported on a worker thread but registered no kernel set under that URL: ` +
        'it must call registerKernels(import.meta.url, set) at its top level',
    );
  }
}
