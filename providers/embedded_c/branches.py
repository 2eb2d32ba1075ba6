"""If on the C kernels: both branches lowered to C calls, the condition read at run time.

The If's call is `ep_if_cond` on its condition (a bool tensor of one element); its `branches` hold
each branch's calls, written as `if (taken) { then } else { else }` in the generated C (and run the
same way per node). Both branches write straight into the If's outputs, so each output must have
one shape in both (`shapes._if`). The values local to a branch are renamed apart from the outer
graph's (`<If's first output>/<branch>/<name>`); a branch output that no node of the branch
produces (an outer value, a constant, or an output listed twice) is copied in by `ep_identity`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ep_runtime.graph import Graph, Node
from ep_runtime.provider import Refusal

from .calls import ANY_C, BOOL, Branch, Call, flatten, value_dtype, walk
from .shapes import Ctx, Unsupported, branch_shapes

#: lowering.lower: a node (with concrete shapes) to its library call, or why not
Lower = Callable[[Node, Graph, dict[str, tuple[int, ...]]], "Call | Refusal"]

BRANCHES = ("then_branch", "else_branch")


def lower_if(ctx: Ctx, lower: Lower) -> Call:
    """The call of an If node: its condition checked, and both branches lowered, each node by `lower`
    (lowering.lower, which calls this for an If: the recursion goes through the argument, not an import)."""
    n = ctx.node
    if set(n.attrs) - set(BRANCHES):
        raise Unsupported("attribute", f"If attribute {sorted(set(n.attrs) - set(BRANCHES))[0]!r} unsupported")
    cond = n.inputs[0] if n.inputs else ""
    if not cond or value_dtype(ctx.graph, cond) != BOOL:
        raise Unsupported("dtype", f"If condition {cond!r} must be a bool tensor")
    if int(np.prod(ctx.shape(cond))) != 1:
        raise Unsupported("dynamic_shape", f"If condition {cond!r} of shape {list(ctx.shape(cond))} must hold "
                                           "one element")
    if not all(n.outputs):
        raise Unsupported("attribute", "If with an omitted output unsupported")
    taken = [_lower_branch(ctx, attr, lower) for attr in BRANCHES]
    return Call("ep_if_cond", "", [("t", cond)], branches=taken)


def _lower_branch(ctx: Ctx, attr: str, lower: Lower) -> Branch:
    n = ctx.node
    graph, shapes = branch_shapes(ctx, attr)
    prefix = f"{n.outputs[0]}/{attr}/"
    local = {o for node in graph.nodes for o in node.outputs if o}
    local |= {name for name in graph.initializers if name not in graph.outer_scope}
    body_outs = [o.name for o in graph.proto.output]
    rename = {name: prefix + name for name in local}
    copies = []  # (branch value, If output) pairs no node of the branch writes directly
    for name, out in zip(body_outs, n.outputs):
        if name in local and name not in graph.initializers and rename[name] == prefix + name:
            rename[name] = out
        else:
            copies.append((name, out))
    calls, nodes = [], []
    for node in graph.nodes:
        call = lower(node, graph, shapes)
        if isinstance(call, Refusal):
            raise Unsupported(call.kind, f"If {attr} node {node.label}: {call.reason}")
        rename.update({k: prefix + k for k in call.constants})
        calls.append(_renamed(call, rename, prefix))
        nodes.append(node)
    for name, out in copies:
        src = rename.get(name, name)
        calls.append(Call("ep_identity", "identity", [("t", src), ("t", out)], inputs=[src], outputs=[out]))
        nodes.append(n)
    outer = graph.outer_scope | set(n.outputs)
    clash = sorted({x for c, _ in flatten(calls, nodes) for x in c.inputs + c.outputs
                    if x not in outer and (x in ctx.graph.values or x in ctx.graph.initializers)})
    if clash:
        raise Unsupported("attribute", f"If {attr}: the name {clash[0]!r} given to a branch value clashes with "
                                       "a value of the model")
    branch = Branch(calls, nodes)
    for name in local:
        if name not in shapes:
            continue
        dt = value_dtype(graph, name)
        if dt not in ANY_C:
            raise Unsupported("dtype", f"If {attr} value {name!r} of type {dt} unsupported")
        new = rename[name]
        if new in n.outputs:
            if dt != value_dtype(ctx.graph, new):
                raise Unsupported("dtype", f"If {attr} gives output {new!r} as {dt}, but the node declares "
                                           f"{value_dtype(ctx.graph, new)}")
            continue
        branch.shapes[new] = shapes[name]
        branch.dtypes[new] = dt
        if name in graph.initializers:
            branch.constants[new] = graph.initializers[name]
    for c in walk(calls):  # Constant nodes' values, renamed like the rest (nested Ifs re-prefix them)
        for k, v in c.constants.items():
            branch.shapes[k], branch.dtypes[k] = tuple(v.shape), v.dtype
    for name, out in copies:
        dt = value_dtype(graph, name)
        if dt != value_dtype(ctx.graph, out):
            raise Unsupported("dtype", f"If {attr} gives output {out!r} as {dt}, but the node declares "
                                       f"{value_dtype(ctx.graph, out)}")
    return branch


def _renamed(call: Call, rename: dict[str, str], prefix: str) -> Call:
    """`call` with the branch's local names replaced (nested Ifs' branches included)."""
    def r(name: str | None) -> str | None:
        return None if name is None else rename.get(name, name)

    args = []
    for kind, v in call.args:
        if kind == "t":
            v = r(v)
        elif kind == "ts":
            v = [r(x) for x in v]
        args.append((kind, v))
    call.args = args
    call.inputs = [r(x) for x in call.inputs]
    call.outputs = [r(x) for x in call.outputs]
    call.constants = {rename.get(k, k): v for k, v in call.constants.items()}
    for branch in call.branches:  # a nested If: its locals get this branch's prefix too
        inner = {**rename, **{k: prefix + k for k in branch.shapes}}
        branch.calls = [_renamed(c, inner, prefix) for c in branch.calls]
        branch.shapes = {inner[k]: v for k, v in branch.shapes.items()}
        branch.dtypes = {inner[k]: v for k, v in branch.dtypes.items()}
        branch.constants = {inner[k]: v for k, v in branch.constants.items()}
    return call
