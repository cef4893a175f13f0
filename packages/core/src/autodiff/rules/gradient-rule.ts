import { ErrorCodes, fail } from '../../errors.js';
import { describeNode, describeOp, type Node } from '../../ir/graph.js';
import type { GradientContext } from '../../ops/registry.js';

/** A gradient rule for one op type; see `OpDefinition.gradient`. */
export type GradientRule = (ctx: GradientContext) => (string | undefined)[];

/** RAZOR_UNSUPPORTED_OP for a node on the loss path whose op has no gradient rule. */
export function failNoGradientRule(node: Node): never {
  return fail(
    ErrorCodes.UNSUPPORTED_OP,
    `${describeNode(node)} lies between the loss and a value a gradient is wanted for, but no gradient rule exists for ${describeOp(node)}; ` +
      'add a gradient rule to its op definition (OpDefinition.gradient) or freeze the parameters behind it',
  );
}
