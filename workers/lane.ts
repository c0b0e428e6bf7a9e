/**
 * Worker entry point: one lane of the pool. Runs commands published in the control block until
 * told to exit, or retires after lingering idle (see LaneState in src/protocol.ts). A command
 * that throws rejects this task; the coordinator learns of it from piscina and marks the lane gone.
 */
import { groupViews } from '../src/arena.js';
import { kernelSets } from '../src/kernels/index.js';
import { runPhase } from '../src/phases.js';
import type { LaneTask } from '../src/pool.js';
import { Ctl, FaultKind, laneDoneIndex, laneFailedIndex, laneLaunchIndex, LaneState, Phase } from '../src/protocol.js';

export default function runLane({ arena, kernels, lane, lanes, seq, launch, lingerMs }: LaneTask): string {
  const control = arena.control;
  Atomics.store(control, laneLaunchIndex(lanes, lane), launch); // running: piscina no longer holds it queued
  const kernelSet = kernelSets[kernels];
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
      injectedFault(control, lane, phase);
      if (phase !== Phase.Warm) runPhase(kernelSet, phase, arena, views, lane);
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

/** Test hook: fail as configured by the coordinator, once. */
function injectedFault(control: Int32Array, lane: number, phase: Phase): void {
  if (Atomics.load(control, Ctl.FaultLane) !== lane + 1 || Atomics.load(control, Ctl.FaultPhase) !== phase) return;
  Atomics.store(control, Ctl.FaultLane, 0);
  const kind = Atomics.load(control, Ctl.FaultKind);
  if (kind === FaultKind.Throw) throw new Error(`injected fault in lane ${lane}`);
  if (kind === FaultKind.Exit) process.exit(70);
  if (kind === FaultKind.Hang) for (;;) Atomics.wait(control, Ctl.FaultKind, kind, 1000);
}
