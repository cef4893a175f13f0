import type { OpDefinition } from '../../ops/registry.js';
import { smoothActivationGradients } from './activation-gradients.js';
import { convGradients } from './conv-gradients.js';
import { convTransposeGradients } from './conv-transpose-gradients.js';
import { activationGradients, elementwiseGradients } from './elementwise-gradients.js';
import { failNoGradientRule, type GradientRule } from './gradient-rule.js';
import { mathGradients } from './math-gradients.js';
import { matrixGradients } from './matrix-gradients.js';
import { normalizationGradients } from './normalization-gradients.js';
import { poolGradients } from './pool-gradients.js';
import { reduceGradients } from './reduce-gradients.js';
import { repeatGradients } from './repeat-gradients.js';
import { resizeGradients } from './resize-gradients.js';
import { sampleNormalizationGradients } from './sample-normalization-gradients.js';
import { scatterGradients } from './scatter-gradients.js';
import { shapeGradients } from './shape-gradients.js';

/** Gradient rules of the default-domain ops razor differentiates, by op type. */
export const gradientRules: Readonly<Record<string, GradientRule>> = {
  ...elementwiseGradients,
  ...activationGradients,
  ...matrixGradients,
  ...shapeGradients,
  ...reduceGradients,
  ...convGradients,
  ...normalizationGradients,
  ...poolGradients,
  ...smoothActivationGradients,
  ...mathGradients,
  ...convTransposeGradients,
  ...sampleNormalizationGradients,
  ...resizeGradients,
  ...repeatGradients,
  ...scatterGradients,
};

/**
 * Copies of `definitions` carrying their gradient rules. A definition shared by several
 * op types gets a rule that dispatches on the node's op type and fails clearly for the
 * op types without one.
 */
export function withGradientRules(definitions: readonly OpDefinition[], rules: Readonly<Record<string, GradientRule>> = gradientRules): OpDefinition[] {
  return definitions.map((definition) => {
    if (definition.gradient !== undefined || (definition.domain ?? '') !== '') return definition;
    const types = typeof definition.opType === 'string' ? [definition.opType] : definition.opType;
    if (!types.some((opType) => rules[opType] !== undefined)) return definition;
    return {
      ...definition,
      gradient(ctx) {
        const rule = rules[ctx.node.opType];
        return rule ? rule(ctx) : failNoGradientRule(ctx.node);
      },
    };
  });
}
