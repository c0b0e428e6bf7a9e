/**
 * Keras's `exclude_from_weight_decay`: the variables weight decay skips, by identity or by a
 * pattern of their names, checked once; each variable's flag is written into its words at build.
 */
import { quote } from '../common/quote.js';
import { isVariableArray, type Variable } from './variable.js';

/** What `excludeFromWeightDecay` excludes: these variables, and those whose names match any of these patterns. */
export interface ExcludeFromWeightDecay {
  /** These variables (by identity). */
  readonly varList?: readonly Variable[];
  /** Regular expressions, searched in each variable's name (as Keras does). */
  readonly varNames?: readonly string[];
}

/** Keras's `exclude_from_weight_decay`: by variable, or by name pattern. */
export interface WeightDecayExclusions {
  readonly variables: ReadonlySet<Variable>;
  readonly pattern: RegExp | null;
}

export const NO_EXCLUSIONS: WeightDecayExclusions = { variables: new Set(), pattern: null };

/**
 * Keras's `exclude_from_weight_decay(var_list, var_names)`, checked: the names form one pattern
 * (alternatives, searched in each variable's name).
 */
export function weightDecayExclusions(exclusions: ExcludeFromWeightDecay): WeightDecayExclusions {
  if (exclusions === null || typeof exclusions !== 'object') {
    throw new TypeError(`excludeFromWeightDecay: expected { varList?, varNames? }, got ${quote(exclusions)}`);
  }
  const { varList, varNames } = exclusions;
  if (varList !== undefined && !isVariableArray(varList)) {
    throw new TypeError('excludeFromWeightDecay: `varList` must be an array of Variables');
  }
  if (varNames !== undefined && !(Array.isArray(varNames) && varNames.every((n) => typeof n === 'string'))) {
    throw new TypeError('excludeFromWeightDecay: `varNames` must be an array of strings');
  }
  let pattern: RegExp | null = null;
  if (varNames !== undefined && varNames.length > 0) {
    try {
      pattern = new RegExp([...new Set(varNames)].join('|'));
    } catch (cause) {
      throw new SyntaxError(`excludeFromWeightDecay: \`varNames\` do not form a valid pattern`, { cause });
    }
  }
  return { variables: new Set(varList ?? []), pattern };
}

/** Keras's `_use_weight_decay`: unless excluded by identity or by a pattern search of its name. */
export function usesWeightDecay(v: Variable, excluded: WeightDecayExclusions): boolean {
  return !(excluded.variables.has(v) || (excluded.pattern?.test(v.name) ?? false));
}
