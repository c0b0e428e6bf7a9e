/**
 * The cost model docs/performance.md quotes: a step's time on N hosts, each like the bench's
 * machine, from what `npm run bench -- --world` measured on it (compute per parameter, the
 * shard sum's cost, the bytes and collectives per step) and a link's bandwidth and latency.
 *
 *   T(N) = forward and backward / N            (the micro-batches dealt to the hosts)
 *        + update of P/N parameters            (each host owns a slice)
 *        + (N-1)/N of P sums of one more shard (the owner finishes the micro-batches' tree)
 *        + 2(N-1)/N of the gradient's bytes / bandwidth   (reduce-scatter, then all-gather)
 *        + collectives per step × (N-1) × latency         (pairwise exchanges: an upper bound)
 *
 * Pure arithmetic, so that a test can check it by hand.
 */

/** What one host (the bench's machine, all its cores) measured. */
export interface HostCosts {
  /** Parameters updated. */
  readonly parameters: number;
  /** Bytes of the gradient (a float32 per parameter). */
  readonly gradientBytes: number;
  /** The forward and backward passes of the whole batch, ms (0: the gradient is given). */
  readonly computeMs: number;
  /** The optimizer's update of every parameter, ms. */
  readonly updateMs: number;
  /** Adding one more shard into a sum, per parameter, ns. */
  readonly shardSumNs: number;
  /** Collectives a rank takes part in per step. */
  readonly collectivesPerStep: number;
}

/** A link between hosts: bandwidth in Gb/s, latency per message in µs. */
export interface Link {
  readonly gbps: number;
  readonly latencyUs: number;
}

/** A step's time on `hosts` hosts, in ms, by part. */
export interface StepCost {
  readonly compute: number;
  readonly update: number;
  readonly shardSum: number;
  readonly bytes: number;
  readonly latency: number;
  readonly total: number;
}

export function stepCost(host: HostCosts, hosts: number, link: Link): StepCost {
  const share = (hosts - 1) / hosts;
  const compute = host.computeMs / hosts;
  const update = host.updateMs / hosts;
  const shardSum = (share * host.parameters * host.shardSumNs) / 1e6;
  const bytes = hosts === 1 ? 0 : (2 * share * host.gradientBytes * 8) / (link.gbps * 1e9) / 1e-3;
  const latency = (host.collectivesPerStep * (hosts - 1) * link.latencyUs) / 1e3;
  return { compute, update, shardSum, bytes, latency, total: compute + update + shardSum + bytes + latency };
}

/** The links the model is quoted for: 10 Gb/s Ethernet over TCP, 100 Gb/s with RDMA (assumed latencies). */
export const LINKS: ReadonlyArray<Link & { readonly name: string }> = [
  { name: '10 Gb/s', gbps: 10, latencyUs: 30 },
  { name: '100 Gb/s', gbps: 100, latencyUs: 5 },
];

export const HOST_COUNTS = [4, 16, 64] as const;

/** The model's table for `host`: one row per link and host count, each part and the whole in ms. */
export function costTable(host: HostCosts): string[] {
  const one = host.computeMs + host.updateMs;
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const rows = LINKS.flatMap((link) =>
    HOST_COUNTS.map((hosts) => {
      const c = stepCost(host, hosts, link);
      return (
        `| ${hosts} | ${link.name} | ${ms(c.compute)} | ${ms(c.update)} | ${ms(c.shardSum)} | ${ms(c.bytes)} | ` +
        `${ms(c.latency)} | **${ms(c.total)}** | ${(one / c.total).toFixed(2)}x |`
      );
    }),
  );
  return [
    '| hosts | link | forward and backward | update | shard sum | bytes | latency | step ms | speed against one host |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|',
    `| 1 | - | ${ms(host.computeMs)} | ${ms(host.updateMs)} | - | - | - | **${ms(one)}** | 1x |`,
    ...rows,
  ];
}
