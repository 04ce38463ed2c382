"""A SavedModel rewritten with its large function bodies cut into chains of small ones, for OpenVINO.

OpenVINO's TensorFlow frontend (2026.4) translates one function body in time about nodes x
edges: ``TranslateSession::translate_graph`` appends every node's producers to one list and
looks all of them up again for each node. The Hub-like A5 stream export's ``call`` body has
28,255 nodes, and its translation took 589 s; cut into parts of PART_NODES nodes, each part a
function called in turn (``PartitionedCall``), the same graph translated in 26 s into the same
OpenVINO model (benchmarks/README.md). The library is also pruned to the functions the graph
calls (the Keras traces that a SavedModel keeps for restoring layers are never converted):
half the conversion's peak memory.

The rewrite reads and writes ``saved_model.pb`` with TensorFlow's generated protobuf
classes, loaded from the installed package without importing TensorFlow (its import takes
10 s, and probes the network stack); the dtype of each tensor that crosses a cut comes from
its producer's OpDef (the meta graph's own list of the ops it uses) and attributes. No
model is loaded into TensorFlow. The variables and assets are linked, not copied.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import types
from pathlib import Path

PART_NODES = 1500  # nodes per part: translation work falls with the square of it


def split_saved_model(source: str, target: str, part_nodes: int | None = None) -> int:
    """Writes into the empty directory ``target`` the SavedModel of ``source`` with its
    library pruned to the functions its graph calls and each function body that its
    signatures compute with, of more than ``part_nodes`` (default PART_NODES) nodes, cut into
    parts of about that many nodes, chained. The saver's functions stay whole: OpenVINO finds
    each variable's value by reading the restore function's body. Returns the number of
    bodies cut (0: none was that large; the pruned copy is still written)."""
    saved_model_pb2, function_pb2, node_def_pb2 = _protobuf()

    part_nodes = part_nodes or PART_NODES
    saved_model = saved_model_pb2.SavedModel()
    saved_model.ParseFromString(Path(source, "saved_model.pb").read_bytes())
    cut = 0
    for meta_graph in saved_model.meta_graphs:
        graph = meta_graph.graph_def
        outputs = {tensor.name.partition(":")[0] for signature in meta_graph.signature_def.values() for tensor in signature.outputs.values()}
        computing = _called_functions(graph, [node for node in graph.node if node.name in outputs])
        called = _called_functions(graph, graph.node)
        kept = [function for function in graph.library.function if function.signature.name in called]
        del graph.library.function[:]
        graph.library.function.extend(kept)
        op_defs = {op.name: op for op in meta_graph.meta_info_def.stripped_op_list.op}
        op_defs.update((function.signature.name, function.signature) for function in graph.library.function)
        # The library's own messages (extend copied ``kept``), so that ``_cut`` rewrites them.
        for function in list(graph.library.function):
            if function.signature.name in computing and len(function.node_def) > part_nodes:
                try:
                    parts = _cut(function, part_nodes, op_defs, function_pb2, node_def_pb2)
                except _UnknownOp:  # left whole: slower to convert, the same model
                    continue
                graph.library.function.extend(parts)
                cut += 1
    for name in os.listdir(source):
        if name != "saved_model.pb":
            os.symlink(os.path.abspath(os.path.join(source, name)), os.path.join(target, name))
    Path(target, "saved_model.pb").write_bytes(saved_model.SerializeToString())
    return cut


class _UnknownOp(Exception):
    """A node of an op whose OpDef the meta graph does not list."""


def _protobuf() -> list[types.ModuleType]:
    """TensorFlow's generated ``saved_model_pb2``, ``function_pb2`` and ``node_def_pb2``.
    Where TensorFlow is not imported yet, they are loaded from its package without running
    its ``__init__`` (a stand-in ``tensorflow`` package, removed again: OpenVINO's converter
    takes an imported ``tensorflow`` as a sign that it was given a TensorFlow object)."""
    names = ["tensorflow.core.protobuf.saved_model_pb2", "tensorflow.core.framework.function_pb2", "tensorflow.core.framework.node_def_pb2"]
    if "tensorflow" in sys.modules:
        return [importlib.import_module(name) for name in names]
    spec = importlib.util.find_spec("tensorflow")
    package = types.ModuleType("tensorflow")
    package.__path__ = list(spec.submodule_search_locations or []) if spec else []
    sys.modules["tensorflow"] = package
    try:
        return [importlib.import_module(name) for name in names]
    finally:
        del sys.modules["tensorflow"]


def _output_types(node, op_def) -> list[tuple[str, int]]:
    """(output argument, dtype) of each of ``node``'s outputs in order, from its ``op_def``
    and attributes (or the OpDef's defaults, which SavedModels leave out of nodes)."""

    def attr(name: str):
        if name in node.attr:
            return node.attr[name]
        default = next((attr.default_value for attr in op_def.attr if attr.name == name), None)
        if default is None:
            raise _UnknownOp(f"{node.name}: no attribute {name}")
        return default

    outputs: list[tuple[str, int]] = []
    for argument in op_def.output_arg:
        if argument.type_list_attr:
            dtypes = list(attr(argument.type_list_attr).list.type)
        else:
            dtype = argument.type or attr(argument.type_attr).type
            dtypes = [dtype] * (attr(argument.number_attr).i if argument.number_attr else 1)
        outputs += [(argument.name, dtype) for dtype in dtypes]
    return outputs


def _function_references(nodes):
    """Names of the functions that ``nodes`` (NodeDefs) call: as their op, or in an attribute
    (``f`` of a PartitionedCall, the bodies of While and If)."""
    for node in nodes:
        yield node.op
        for value in node.attr.values():
            if value.HasField("func"):
                yield value.func.name
            yield from (function.name for function in value.list.func)


def _called_functions(graph_def, nodes) -> set[str]:
    """The functions of ``graph_def``'s library that ``nodes`` (NodeDefs) call, directly or not."""
    library = {function.signature.name: function for function in graph_def.library.function}
    called: set[str] = set()
    pending = [name for name in _function_references(nodes) if name in library]
    while pending:
        name = pending.pop()
        if name not in called:
            called.add(name)
            pending.extend(other for other in _function_references(library[name].node_def) if other in library)
    return called


class _Body:
    """A function body about to be cut: its nodes (name -> NodeDef), its arguments (name ->
    dtype) and the OpDefs (op or library function name -> OpDef) that type the tensors
    crossing a cut. Raises _UnknownOp where a node's op has no OpDef."""

    def __init__(self, function, op_defs: dict):
        self.nodes = {node.name: node for node in function.node_def}
        self.arguments = {argument.name: argument.type for argument in function.signature.input_arg}
        self.op_defs = op_defs
        missing = {node.op for node in self.nodes.values()} - set(op_defs)
        if missing:
            raise _UnknownOp(f"no OpDef for {sorted(missing)[:3]}")

    def tensor(self, reference: str) -> tuple[str, str, int]:
        """(producer, output argument, index) of a data input: ``node:output:0`` or an argument."""
        producer, _, rest = reference.partition(":")
        if producer in self.arguments:
            return producer, "", 0
        output, _, index = rest.partition(":")
        return producer, output, int(index or 0)

    def dtype(self, key: tuple[str, str, int]) -> int:
        """The dtype (a DataType enum value) of the tensor ``key`` (see ``tensor``)."""
        producer, output, index = key
        if producer in self.arguments:
            return self.arguments[producer]
        node = self.nodes[producer]
        outputs = _output_types(node, self.op_defs[node.op])
        return [dtype for name, dtype in outputs if name == output][index] if output else outputs[index][1]


def _cut(function, part_nodes: int, op_defs: dict, function_pb2, node_def_pb2) -> list:
    """Rewrites ``function`` (a FunctionDef, in place) into a chain of calls of parts of about
    ``part_nodes`` of its nodes in topological order, and returns the parts (FunctionDefs).
    A part takes as arguments the tensors it reads from the function's arguments or from
    earlier parts, and returns those that later parts or the function's results read. Control
    edges between parts and control results are dropped (within a function they only order
    and keep stateful reads). ``op_defs``: op (or library function) name -> OpDef. Raises
    _UnknownOp, ``function`` untouched, where a node's op is not among them."""
    body = _Body(function, op_defs)
    order = _topological_order(body.nodes)
    count = -(-len(order) // part_nodes)
    part_of = {name: position * count // len(order) for position, name in enumerate(order)}
    results = {name: body.tensor(reference) for name, reference in function.ret.items()}
    reads, gives = _crossings(body, order, part_of, count, results.values())
    parts, calls = [], []
    outside = {(name, "", 0): name for name in body.arguments}  # tensor -> how the function refers to it
    for part in range(count):
        members = [name for name in order if part_of[name] == part]
        parts.append(_part(body, f"{function.signature.name}_part{part}", members, part_of, part, reads[part], gives[part], function_pb2, node_def_pb2))
        call = node_def_pb2.NodeDef(name=f"part{part}", op="StatefulPartitionedCall" if parts[-1].signature.is_stateful else "PartitionedCall")
        call.input.extend(outside[key] for key in reads[part])
        call.attr["f"].func.name = parts[-1].signature.name
        call.attr["Tin"].list.type.extend(body.dtype(key) for key in reads[part])
        call.attr["Tout"].list.type.extend(body.dtype(key) for key in gives[part])
        calls.append(call)
        outside.update({key: f"part{part}:output:{index}" for index, key in enumerate(gives[part])})
    del function.node_def[:]
    function.node_def.extend(calls)
    for name, key in results.items():
        function.ret[name] = outside[key]
    # Control results only make TensorFlow run stateful reads whose values go unused; they
    # would name nodes now inside parts.
    function.control_ret.clear()
    del function.signature.control_output[:]
    return parts


def _crossings(body: _Body, order: list[str], part_of: dict[str, int], count: int, results) -> tuple[list[dict], list[dict]]:
    """The tensors that cross between parts: per part, those it reads from outside it (tensor
    -> its argument name there, ``input_N``) and those it gives to later parts or to the
    function's ``results`` (tensor -> its result name there, ``output_N``), each in the
    order first met."""
    reads: list[dict] = [{} for _ in range(count)]
    gives: list[dict] = [{} for _ in range(count)]
    for name in order:
        part = part_of[name]
        for reference in body.nodes[name].input:
            if reference.startswith("^"):
                continue
            key = body.tensor(reference)
            producer_part = part_of.get(key[0], -1)
            if producer_part != part:
                reads[part].setdefault(key, f"input_{len(reads[part])}")
                if producer_part >= 0:
                    gives[producer_part].setdefault(key, f"output_{len(gives[producer_part])}")
    for key in results:
        if key[0] in part_of:
            gives[part_of[key[0]]].setdefault(key, f"output_{len(gives[part_of[key[0]]])}")
    return reads, gives


def _part(body: _Body, name: str, members: list[str], part_of: dict[str, int], part: int, reads: dict, gives: dict, function_pb2, node_def_pb2):
    """The FunctionDef ``name`` of one part: the nodes ``members`` (in order) copied, their
    inputs from other parts read from its arguments ``reads`` and control inputs from other
    parts dropped; it returns ``gives``, and is stateful if any of its nodes is."""
    function = function_pb2.FunctionDef()
    function.signature.name = name
    for key, argument in reads.items():
        function.signature.input_arg.add(name=argument, type=body.dtype(key))
    for member in members:
        node = node_def_pb2.NodeDef()
        node.CopyFrom(body.nodes[member])
        inputs = []
        for reference in node.input:
            if reference.startswith("^"):
                if part_of.get(reference[1:]) == part:
                    inputs.append(reference)
            elif part_of.get(body.tensor(reference)[0]) == part:
                inputs.append(reference)
            else:
                inputs.append(reads[body.tensor(reference)])
        del node.input[:]
        node.input.extend(inputs)
        function.signature.is_stateful |= body.op_defs[node.op].is_stateful
        function.node_def.append(node)
    for key, result in gives.items():
        function.signature.output_arg.add(name=result, type=body.dtype(key))
        function.ret[result] = f"{key[0]}:{key[1]}:{key[2]}"
    return function


def _topological_order(nodes: dict) -> list[str]:
    """The names of ``nodes`` (name -> NodeDef) with every node after its producers (data and
    control), depth first, iteratively (bodies are tens of thousands of nodes deep)."""
    order: list[str] = []
    seen: set[str] = set()
    for root in nodes:
        stack = [(root, False)]
        while stack:
            name, expanded = stack.pop()
            if expanded:
                order.append(name)
                continue
            if name in seen:
                continue
            seen.add(name)
            stack.append((name, True))
            for reference in nodes[name].input:
                producer = reference.lstrip("^").partition(":")[0]
                if producer in nodes and producer not in seen:
                    stack.append((producer, False))
    return order
