/**
 * Keras's rules across RMSprop's options, which no single row of the option table can hold (each
 * option's own kind and bounds are checked by `common/option-rules.ts`).
 */

/** How an error names an option: the constructor's camelCase, or a Keras config's key as written. */
export interface OptionNaming {
  readonly caller: string;
  readonly key: (option: string) => string;
}

/** The resolved options Keras's cross-option rules read. */
export interface KerasRuleOptions {
  readonly gradientAccumulationSteps: number | null;
  readonly useEma: boolean;
  readonly emaMomentum: number;
  readonly emaOverwriteFrequency: number | null;
  readonly clipnorm: number | null;
  readonly clipvalue: number | null;
  readonly globalClipnorm: number | null;
}

/** The argument checks of Keras's `BaseOptimizer.__init__`, in its order and wording. */
export function checkKerasRules(o: KerasRuleOptions, naming: OptionNaming): void {
  const refuse = (rule: string, received: string) => new RangeError(`${naming.caller}: ${rule}. Received: ${received}`);
  const is = (option: keyof KerasRuleOptions) => `${naming.key(option)}=${String(o[option])}`;
  const quoted = (option: keyof KerasRuleOptions) => `\`${naming.key(option)}\``;
  const steps = o.gradientAccumulationSteps;
  if (steps && !(steps >= 2)) {
    throw refuse(`${quoted('gradientAccumulationSteps')} must be an integer >= 2`, is('gradientAccumulationSteps'));
  }
  if (o.useEma) {
    if (o.emaMomentum > 1 || o.emaMomentum < 0) {
      throw refuse(`${quoted('emaMomentum')} must be in the range [0, 1]`, is('emaMomentum'));
    }
    const frequency = o.emaOverwriteFrequency;
    if (frequency && frequency < 1) {
      throw refuse(`${quoted('emaOverwriteFrequency')} must be an integer >= 1 or null`, is('emaOverwriteFrequency'));
    }
  }
  const clips = ['clipnorm', 'clipvalue', 'globalClipnorm'] as const;
  if (clips.filter((clip) => o[clip] !== null).length > 1) {
    const [a, b, c] = clips.map(quoted);
    throw refuse(`Only one of ${a}, ${b} and ${c} can be set`, clips.map(is).join(', '));
  }
}
